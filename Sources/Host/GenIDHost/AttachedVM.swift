import Foundation
import GenerationStore
import QMP
import Synchronization
import VMGenID

/// A running QEMU that genid can rotate: its monitor (a QMP connection, or
/// libvirt's passthrough under genidd), its guest memory, the generation
/// signals its guest has (VMGENID), and where each sits in guest memory
/// (found once through the guest's ACPI tables, then cached).
public final class AttachedVM: Sendable {
    /// Who the ledger files this VM's values under.
    public let identity: VMIdentity
    public var name: String { identity.name }
    public let monitor: any QEMUMonitor
    public let memory: any GuestMemory
    /// What a state load rewrites, in this order, in the paused window.
    public let signals: [any GenerationSignal]
    /// What the caller should know about this VM's signals (a device genid
    /// cannot reach); each rotation repeats them as warnings.
    public let notes: [String]
    private let cachedRegions = Mutex<[String: SignalRegion]>([:])

    /// How QEMU is asked where its vmgenid device keeps the value.
    public let deviceState: QEMUDeviceState

    public init(identity: VMIdentity, monitor: any QEMUMonitor, memory: any GuestMemory,
                signals: [any GenerationSignal] = [VMGenIDSignal()], notes: [String] = [],
                deviceState: QEMUDeviceState = .notAsked) {
        self.identity = identity
        self.deviceState = deviceState
        self.signals = signals
        self.notes = notes
        self.monitor = monitor
        self.memory = memory
    }

    public static func attach(identity: VMIdentity, qmpSocket: String, memory source: GuestMemorySource,
                              timeout: Duration = .seconds(10)) async throws -> AttachedVM {
        let qmp = try await QMPClient.connect(unixSocketPath: qmpSocket, timeout: timeout)
        do {
            let pid: Int32? = if case .qemuProcess(let pid) = source { pid } else { nil }
            return try await withEverySignal(identity: identity, monitor: qmp, memory: try await source.open(using: qmp),
                                             deviceState: .temporaryDirectory,
                                             qemuPID: pid)
        } catch {
            await qmp.close()
            throw error
        }
    }

    /// Where `signal` lives in guest memory; walks the guest's tables the
    /// first time (or with `refresh`).
    public func region(of signal: some GenerationSignal, refresh: Bool = false) throws -> SignalRegion {
        if !refresh, let region = cachedRegions.withLock({ $0[signal.name] }) { return region }
        let region = try signal.locate(in: memory)
        cachedRegions.withLock { $0[signal.name] = region }
        return region
    }

    /// Every signal's region, confirmed: right after a state load each
    /// device has put its own state there (QEMU's vmgenid device: its own
    /// value, at the address its device state names). A region that does
    /// not hold it is located again once; then the tables no longer say
    /// where the device is, and nothing is written.
    public func signalRegionsAfterLoad() async throws -> [SignalRegion] {
        let device = DeviceState(vmgenid: try await qemuValue(),
                                 vmgenidValueAddress: try await deviceState.vmgenidValueAddress(monitor: monitor))
        return try signals.map { signal in
            for refresh in [false, true] {
                let region = try self.region(of: signal, refresh: refresh)
                do {
                    if try signal.holdsDeviceState(region, in: memory, device: device) { return region }
                } catch where !refresh {
                    continue  // a region found before a reboot may be out of date: walk again once
                }
            }
            throw HostError.signalNotInPlace(signal: signal.name, region: try self.region(of: signal).description,
                                             device: "\(device)")
        }
    }

    /// In the paused window after a state load: writes `value` into every
    /// signal's region, each first confirmed to hold its device's state.
    public func writeSignalsAfterLoad(_ value: GenerationID) async throws -> [SignalRegion] {
        let regions = try await signalRegionsAfterLoad()
        for (signal, region) in zip(signals, regions) {
            try signal.write(value, into: region, in: memory)
        }
        return regions
    }

    /// A step in the paused window failed: the VM is left as it is, never
    /// resumed on a stale value. Notes it in the audit trail (`auditKind`,
    /// what was being done, the error, `note`, the run state) and returns
    /// the error to throw.
    public func leftPaused(after error: any Error, event: String, source: String, store: any GenerationStore,
                           auditKind: String, note: String) async -> HostError {
        let state = (try? await runState()) ?? "unknown"
        try? await store.audit(identity, kind: auditKind,
                               message: "\(event) \(source): \(error); \(note); the VM was left \(state)")
        return .rotationFailed(event: event, source: source, reason: "\(error)", runState: state)
    }

    /// QEMU's idea of the value (`query-vm-generation-id`): what its device
    /// was created with. After a genid rotation guest memory differs from it.
    public func qemuValue() async throws -> GenerationID {
        let reply = try await monitor.execute("query-vm-generation-id")
        guard let text = reply["guid"]?.stringValue, let value = GenerationID(text) else {
            throw HostError.unexpectedReply(command: "query-vm-generation-id", detail: "\(reply)")
        }
        return value
    }

    /// The value the guest sees: the 16 bytes in its memory.
    public func guestMemoryValue() throws -> GenerationID {
        let region = try region(of: VMGenIDSignal())
        return GenerationID(guestBytes: try memory.read(at: region.address, count: region.length))!
    }

    /// QEMU's run state ("running", "paused", "inmigrate", ...).
    public func runState() async throws -> String {
        let reply = try await monitor.execute("query-status")
        guard let status = reply["status"]?.stringValue else {
            throw HostError.unexpectedReply(command: "query-status", detail: "\(reply)")
        }
        return status
    }

    /// Runs an HMP command whose success prints nothing (savevm, loadvm,
    /// delvm); any output is QEMU's error message.
    func silentMonitorCommand(_ command: String, timeout: Duration = .seconds(120)) async throws {
        let output = try await monitor.humanMonitorCommand(command, timeout: timeout)
        let trimmed = output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.isEmpty else {
            if trimmed.contains("No block device") || trimmed.contains("can't snapshot")
                || trimmed.contains("does not support internal snapshots") {
                throw HostError.noSnapshotDisk(output: trimmed)
            }
            throw HostError.monitorCommandFailed(command: command, output: trimmed)
        }
    }

    /// Polls `query-migrate` until this QEMU's migration (outgoing, or a
    /// restore's incoming stream) completes, and returns QEMU's final
    /// report (with `downtime` for an outgoing one); throws if it fails.
    @discardableResult
    public func waitForMigration(timeout: Duration) async throws -> JSONValue {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let reply = try await monitor.execute("query-migrate")
            let status = reply["status"]?.stringValue ?? "none"
            switch status {
            case "completed": return reply
            case "failed", "cancelled":
                throw HostError.migrationFailed(status: status, detail: reply["error-desc"]?.stringValue ?? "")
            default: try await Task.sleep(for: .milliseconds(20))
            }
        }
        throw HostError.timeout(what: "migration", seconds: Double(timeout.components.seconds))
    }

    public func close() async {
        await monitor.close()
    }
}
