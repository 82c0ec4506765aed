import ArgumentParser
import Foundation
import GenIDDaemon
import OpenLedger

@main
struct GenIDD: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "genidd",
        abstract: "Guards the VM Generation ID of every libvirt domain.",
        discussion: """
            genidd follows libvirt's domain events and makes sure every restore, revert and clone \
            runs with a value never seen before: it checks what libvirt gave, writes fresh <genid> \
            values into definitions libvirt would reuse (inactive reverts, clones, copied XML), and \
            records every value in the ledger before it reaches a domain. After each new value it \
            asks the guest agent when the guest has adjusted (`genidctl wait-ready DOMAIN`).

            On every (re)connection to libvirtd it reconciles all domains, so what happened while \
            it was stopped is caught before those domains next run.

            Ledger: an SQLite file for one host (the default), or one PostgreSQL database that every \
            host's genidd shares (--ledger postgres://USER@HOST/DATABASE): a value is then unique \
            across the fleet. TLS is required by default (?sslmode=require; verify-ca, verify-full \
            with ?sslrootcert=CA, or disable); the password belongs in ?passwordFile=FILE or a \
            systemd credential (?passwordCredential=NAME), not in the URL, which ps shows. While the ledger cannot be reached genidd gives no value; `genidctl \
            status` and the genid_ledger_reachable metric show it, and the next event after the \
            server is back reconnects by itself.

            Configuration: \(DaemonConfiguration.defaultPath) (JSON, every key optional; see \
            Documentation/genidd.md). Options given here override it.
            Control: genidctl status|history|wait-ready|rotate|revert|reconcile|notify (socket \(DaemonConfiguration().controlSocket)).
            Metrics: GET http://\(DaemonConfiguration().metricsAddress ?? "-")/metrics. Logs: logfmt on stderr.
            """)

    @Option(name: .long, help: "Configuration file (JSON).")
    var config: String?
    @Option(name: .long, help: "libvirt URI to guard.")
    var libvirtURI: String?
    @Option(name: .long, help: ArgumentHelp(
        "The ledger: an SQLite file (one host) or a postgres:// URL (a fleet ledger all hosts share).",
        valueName: "path-or-url"))
    var ledger: String?
    @Option(name: .long, help: "Path of the control socket.")
    var controlSocket: String?
    @Option(name: .long, help: "Group allowed every control command besides root (the operator role).")
    var controlGroup: String?
    @Option(name: .long, help: "Group allowed only status, history and wait-ready (the reader role).")
    var readOnlyGroup: String?
    @Option(name: .long, help: "HOST:PORT for GET /metrics, or 'none'.")
    var metricsAddress: String?
    @Option(name: .long, help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String?
    @Flag(name: .long, help: "Check the configuration, print it as JSON and exit.")
    var checkConfig = false

    func run() async throws {
        var configuration: DaemonConfiguration
        var warnings: [String] = []
        do {
            configuration = try DaemonConfiguration.load(path: config)
            if let exposed = DaemonConfiguration.exposureWarning(ofFile: config ?? DaemonConfiguration.defaultPath) {
                warnings.append(exposed)
            }
            if let libvirtURI { configuration.libvirtURI = libvirtURI }
            if let ledger { configuration.ledger = ledger }
            if let controlSocket { configuration.controlSocket = controlSocket }
            if let controlGroup { configuration.controlGroup = controlGroup }
            if let readOnlyGroup { configuration.readOnlyGroup = readOnlyGroup }
            if let metricsAddress { configuration.metricsAddress = metricsAddress == "none" ? nil : metricsAddress }
            if let logLevel { configuration.logLevel = logLevel }
            try configuration.validate(source: "the command line")
            warnings += try exposureWarnings(ofLedger: configuration.ledger)
        } catch {
            throw ValidationError("\(error)")
        }
        if checkConfig {
            for warning in warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
            print(try configuration.jsonText())
            return
        }
        try await Daemon(configuration: configuration, store: try openLedger(at: configuration.ledger),
                         warnings: warnings).run()
    }
}
