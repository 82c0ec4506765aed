import GenerationStore
import GuestMemoryFixtures
import QMP
import Synchronization
import VMGenID

/// Every step the rotator takes, in order, across the monitor, guest memory
/// and the ledger: the order is the protocol.
final class StepLog: Sendable {
    private let steps = Mutex<[String]>([])
    func add(_ step: String) { steps.withLock { $0.append(step) } }
    var all: [String] { steps.withLock { $0 } }
}

/// QEMU as the rotator sees it through its monitor: a run state, internal
/// snapshots, the vmgenid device's own value, and a state load that writes
/// that value into the VMGENID page (as QEMU's device does after every
/// load). `failing` makes one command fail the way QEMU would.
final class ScriptedQEMU: QEMUMonitor {
    enum Failure: Sendable {
        /// A QMP error reply.
        case qmpError(String)
        /// HMP prints an error message (how savevm/loadvm/delvm fail).
        case hmpOutput(String)
    }

    let log: StepLog
    /// Prefixes this QEMU's steps when two share one log ("source", "destination").
    let label: String
    let memory: ArrayGuestMemory
    /// The device's `guid` property: what a state load puts in the page.
    let deviceValue = GenerationID.random()
    private let state = Mutex<(runState: String, autostart: Bool, snapshots: Set<String>, failing: [String: Failure])>(
        ("running", true, [], [:]))
    /// Where a load writes the device's value; the page's slot unless a
    /// test moves it (a guest that rewrote its ACPI tables).
    let loadTarget = Mutex(ACPIImage.pageAddress + 40)

    init(log: StepLog, memory: ArrayGuestMemory, runState: String = "running", label: String = "") {
        self.log = log
        self.label = label
        self.memory = memory
        state.withLock { $0.runState = runState }
    }

    var runState: String { state.withLock { $0.runState } }
    var snapshots: Set<String> { state.withLock { $0.snapshots } }
    func fail(_ command: String, with failure: Failure) { state.withLock { $0.failing[command] = failure } }
    func addSnapshot(_ name: String) { _ = state.withLock { $0.snapshots.insert(name) } }

    func execute(_ command: String, arguments: [String: JSONValue]?, timeout: Duration) async throws -> JSONValue {
        if !command.hasPrefix("query-") { step(command) }
        if case .qmpError(let message)? = state.withLock({ $0.failing[command] }) {
            throw QMPError.commandFailed(command: command, errorClass: "GenericError", description: message)
        }
        switch command {
        // While waiting for a stream, stop only clears autostart (as QEMU does).
        case "stop": state.withLock { if $0.runState == "inmigrate" { $0.autostart = false } else { $0.runState = "paused" } }
        case "cont": state.withLock { $0.runState = "running" }
        case "query-status": return .object(["status": .string(runState)])
        case "query-vm-generation-id": return .object(["guid": .string(deviceValue.description)])
        case "migrate-incoming":
            loadState()
            state.withLock { $0.runState = $0.autostart ? "running" : "paused" }
        case "migrate": state.withLock { $0.runState = "postmigrate" }
        case "query-migrate": return .object(["status": .string("completed")])
        default: break
        }
        return .object([:])
    }

    func humanMonitorCommand(_ commandLine: String, timeout: Duration) async throws -> String {
        let words = commandLine.split(separator: " ").map(String.init)
        let (verb, name) = (words[0], words.count > 1 ? words[1] : "")
        step(verb)
        if case .hmpOutput(let message)? = state.withLock({ $0.failing[verb] }) { return message }
        switch verb {
        case "savevm": addSnapshot(name)
        case "delvm": _ = state.withLock { $0.snapshots.remove(name) }
        case "loadvm":
            guard snapshots.contains(name) else { return "Error: Snapshot '\(name)' does not exist" }
            loadState()
        default: return "unknown command: '\(verb)'"
        }
        return ""
    }

    func close() async {}

    private func step(_ name: String) { log.add(label.isEmpty ? name : "\(label) \(name)") }

    private func loadState() {
        memory.poke(deviceValue.guestBytes, at: Int(loadTarget.withLock { $0 }))
    }
}

/// Guest memory whose writes land in the step log; `dropWrites` makes a
/// write vanish, as a page QEMU rewrote behind the host's back would.
final class LoggedGuestMemory: GuestMemory {
    let base: ArrayGuestMemory
    let log: StepLog
    let dropWrites: Bool
    var layout: GuestRAMLayout { base.layout }

    let label: String

    init(_ base: ArrayGuestMemory, log: StepLog, dropWrites: Bool = false, label: String = "") {
        self.base = base
        self.label = label
        self.log = log
        self.dropWrites = dropWrites
    }

    func read(at address: UInt64, count: Int) throws(VMGenIDError) -> [UInt8] {
        try base.read(at: address, count: count)
    }

    func write(_ bytes: [UInt8], at offset: Int, in region: SignalRegion) throws(VMGenIDError) {
        log.add((label.isEmpty ? "" : "\(label) ") + "write \(region.signal)")
        if !dropWrites { try base.write(bytes, at: offset, in: region) }
    }
}

/// A store whose records land in the step log, or that refuses to record.
struct LoggedStore: GenerationStore {
    let base = InMemoryGenerationStore()
    let log: StepLog
    var unavailable = false
    var location: String { "logged memory" }
    var host: String { base.host }

    func record(_ value: GenerationID, for vm: VMIdentity, role: GenerationRole, event: String, detail: String?,
                origin: GenerationRecord.Origin) async throws -> GenerationRecord {
        log.add("record")
        if unavailable { throw StoreError.unavailable("ledger: the database is not reachable") }
        return try await base.record(value, for: vm, role: role, event: event, detail: detail, origin: origin)
    }

    func move(_ value: GenerationID, of vm: VMIdentity) async throws -> GenerationRecord {
        log.add("move")
        if unavailable { throw StoreError.unavailable("ledger: the database is not reachable") }
        return try await base.move(value, of: vm)
    }
    func owner(of value: GenerationID) async throws -> GenerationRecord? { await base.owner(of: value) }
    func view(of values: [GenerationID], for vm: VMIdentity) async throws -> LedgerView {
        try await base.view(of: values, for: vm)
    }
    func latest(of vm: VMIdentity, role: GenerationRole) async throws -> GenerationRecord? {
        await base.latest(of: vm, role: role)
    }
    func history(vm: String?, limit: Int?, before: Int64?) async throws -> [GenerationRecord] {
        try await base.history(vm: vm, limit: limit, before: before)
    }
    func audit(_ vm: VMIdentity, kind: String, message: String) async throws {
        try await base.audit(vm, kind: kind, message: message)
    }
    func auditTrail(vm: String?, limit: Int?) async throws -> [AuditRecord] {
        try await base.auditTrail(vm: vm, limit: limit)
    }
    func duplicateValues() async throws -> [GenerationID] { await base.duplicateValues() }
}
