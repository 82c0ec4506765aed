import GenerationStore
import Libvirt
import Logging
import Synchronization
import Testing
@testable import GenIDDaemon

/// Every message logged, with its metadata, one line each.
final class LogLines: Sendable {
    let lines = Mutex<[String]>([])
    var last: String? { lines.withLock { $0.last } }
}

struct CapturingLogHandler: LogHandler {
    let lines: LogLines
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let fields = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        lines.lines.withLock { $0.append(([event.level.rawValue, "\(event.message)"] + fields).joined(separator: " ")) }
    }
}

/// An operator's rotation that fails is shown by `status` and logged with
/// its reason: a domain of libvirt's test driver, with a VMGENID device,
/// defined but not running.
@Suite struct OperatorRequestTests {
    @Test func aFailedRotationIsInStatusAndTheLog() async throws {
        let lines = LogLines()
        let logger = Logger(label: "test") { _ in CapturingLogHandler(lines: lines) }
        let metrics = DaemonMetrics()
        let guardian = DomainGuard(configuration: DaemonConfiguration(), store: InMemoryGenerationStore(),
                                   readiness: ReadinessGate(timeout: .seconds(1), metrics: metrics, logger: logger),
                                   metrics: metrics, logger: logger)
        let connection = try Connection.open("test:///default")
        let name = "genid-operator-request"
        let domain = try connection.defineDomain(xml: """
            <domain type='test'><name>\(name)</name><memory unit='KiB'>65536</memory>
            <os><type arch='x86_64'>hvm</type></os><genid/></domain>
            """)
        defer { try? domain.undefine() }
        await guardian.attach(connection)
        let reason = DaemonError.notRunning(domain: name).description
        for request in ["rotate", "revert base"] {
            await #expect(throws: DaemonError.self) {
                if request == "rotate" {
                    _ = try await guardian.rotate(domainNamed: name)
                } else {
                    _ = try await guardian.revert(domainNamed: name, snapshot: "base")
                }
            }
            let status = try #require(try await guardian.status(domainNamed: name).first)
            #expect(status.lastError == "\(request): \(reason)")
            #expect(lines.last == "error request failed domain=\(name) error=\(reason) request=\(request)")
        }
    }
}
