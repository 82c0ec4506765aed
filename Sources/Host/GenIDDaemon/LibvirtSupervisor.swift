import Libvirt
import Logging
import ServiceLifecycle

/// Keeps genidd connected to libvirtd: connect, subscribe to lifecycle
/// events, reconcile every domain, then follow the events until the
/// connection drops (libvirtd restarted, keepalive timeout); then again.
final class LibvirtSupervisor: Service {
    let configuration: DaemonConfiguration
    let guardian: DomainGuard
    let metrics: DaemonMetrics
    let logger: Logger

    init(configuration: DaemonConfiguration, guardian: DomainGuard, metrics: DaemonMetrics, logger: Logger) {
        self.configuration = configuration
        self.guardian = guardian
        self.metrics = metrics
        self.logger = logger
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var announcedFailure = false
            while !Task.isCancelled {
                do {
                    try await self.followOneConnection()
                    announcedFailure = false
                } catch is CancellationError {
                    break
                } catch {
                    // Say it once per outage, not every few seconds.
                    if !announcedFailure {
                        self.logger.error("libvirt unavailable; retrying", metadata: [
                            "uri": "\(self.configuration.libvirtURI)", "error": "\(error)",
                            "retry_seconds": "\(self.configuration.reconnectSeconds)"])
                        announcedFailure = true
                    }
                }
                try? await Task.sleep(for: .milliseconds(Int64(self.configuration.reconnectSeconds * 1000)))
            }
        }
    }

    private func followOneConnection() async throws {
        let connection = try Connection.open(configuration.libvirtURI)
        defer { connection.close() }
        _ = try? connection.setKeepAlive(interval: 5, count: 3)
        // Subscribe before reconciling: an event during the pass is queued,
        // not lost (handling it twice is harmless).
        let events = try connection.lifecycleEvents()
        metrics.libvirtReconnect()
        metrics.libvirtConnected(true)
        defer { metrics.libvirtConnected(false) }
        logger.info("connected to libvirt", metadata: ["uri": "\(configuration.libvirtURI)"])
        await guardian.attach(connection)
        await guardian.reconcile()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in events { await self.guardian.handle(event) }
            }
            group.addTask {
                for await reason in connection.closeEvents {
                    self.logger.warning("libvirt connection lost", metadata: ["reason": "\(reason)"])
                    return
                }
            }
            await group.next()
            group.cancelAll()
        }
        await guardian.attach(nil)
        try Task.checkCancellation()
    }
}
