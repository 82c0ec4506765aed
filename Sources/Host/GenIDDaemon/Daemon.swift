import GenerationStore
import Logging
import ServiceLifecycle

/// genidd, assembled: the libvirt supervisor, the control socket, the
/// ledger watch and the metrics endpoint as services of one group that shuts down gracefully on
/// SIGTERM or SIGINT (the control socket file is removed, the libvirt
/// connection closed; the ledger is always consistent on disk).
public struct Daemon {
    public let configuration: DaemonConfiguration
    /// The ledger, opened by the caller from `configuration.ledger`: the
    /// daemon works with any store.
    public let store: any GenerationStore
    /// Where the configuration exposes a secret: logged once at start.
    public let warnings: [String]

    public init(configuration: DaemonConfiguration, store: any GenerationStore, warnings: [String] = []) {
        self.configuration = configuration
        self.store = store
        self.warnings = warnings
    }

    public func run() async throws {
        let level = parseLogLevel(configuration.logLevel) ?? .info
        LoggingSystem.bootstrap { LogfmtLogHandler(label: $0, level: level) }
        let logger = Logger(label: "genidd")
        let metrics = DaemonMetrics()
        let readiness = ReadinessGate(timeout: configuration.readinessTimeout,
                                      metrics: metrics, logger: logger)
        let ledger = WatchedStore(store, metrics: metrics)
        let guardian = DomainGuard(configuration: configuration, store: ledger, readiness: readiness,
                                   metrics: metrics, logger: logger)
        let handler = ControlHandler(guardian: guardian, ledger: ledger, configuration: configuration,
                                     metrics: metrics, logger: logger)
        let budget = DescriptorBudget.raisingSoftLimit()
        var services: [any Service] = [
            LibvirtSupervisor(configuration: configuration, guardian: guardian, metrics: metrics, logger: logger),
            try ControlServer(configuration: configuration, budget: budget, handler: handler, metrics: metrics,
                              logger: logger),
            LedgerWatch(ledger: ledger, guardian: guardian, logger: logger),
        ]
        if let address = configuration.metricsAddress, let endpoint = MetricsEndpoint(address) {
            services.append(MetricsServer(endpoint: endpoint, budget: budget, metrics: metrics, logger: logger))
        }
        logger.info("genidd starting", metadata: ["ledger": "\(store.location)", "host": "\(store.host)",
                                                  "libvirt": "\(configuration.libvirtURI)",
                                                  "descriptors": "\(budget.limit)",
                                                  "control_connections": "\(budget.controlConnections)",
                                                  "metrics_connections": "\(budget.metricsConnections)"])
        for warning in warnings { logger.warning("\(warning)") }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint],
                                                      logger: logger))
        try await group.run()
        logger.info("genidd stopped")
    }
}
