import GenerationStore
import Synchronization
import VMGenID

/// The daemon's ledger, watched: every operation's outcome sets the
/// `genid_ledger_reachable` gauge and `genidctl status`'s ledger line, so an
/// operator sees a fleet ledger that went away before a VM needs a value.
/// (genid gives no value it could not record: while the ledger is
/// unreachable, state loads are refused and left paused or audited.)
final class WatchedStore: GenerationStore {
    let base: any GenerationStore
    private let metrics: DaemonMetrics
    private let lastFailure = Mutex<String?>(nil)
    private let recoveryCount = Atomic<Int>(0)

    init(_ base: any GenerationStore, metrics: DaemonMetrics) {
        self.base = base
        self.metrics = metrics
    }

    var location: String { base.location }
    var host: String { base.host }

    /// The last operation's failure, nil once one succeeded again.
    var failure: String? { lastFailure.withLock { $0 } }

    /// How often an operation succeeded after one had failed.
    var recoveries: Int { recoveryCount.load(ordering: .relaxed) }

    /// Asks the store something cheap, to report on it now rather than at
    /// the last event. The all-zero value is never given.
    func probe() async -> String? {
        _ = try? await watched { try await self.base.owner(of: GenerationID(rfcBytes: [UInt8](repeating: 0, count: 16))!) }
        return failure
    }

    func record(_ value: GenerationID, for vm: VMIdentity, role: GenerationRole, event: String, detail: String?,
                origin: GenerationRecord.Origin) async throws -> GenerationRecord {
        try await watched {
            try await self.base.record(value, for: vm, role: role, event: event, detail: detail, origin: origin)
        }
    }

    func move(_ value: GenerationID, of vm: VMIdentity) async throws -> GenerationRecord {
        try await watched { try await self.base.move(value, of: vm) }
    }

    func view(of values: [GenerationID], for vm: VMIdentity) async throws -> LedgerView {
        try await watched { try await self.base.view(of: values, for: vm) }
    }

    func owner(of value: GenerationID) async throws -> GenerationRecord? {
        try await watched { try await self.base.owner(of: value) }
    }

    func latest(of vm: VMIdentity, role: GenerationRole) async throws -> GenerationRecord? {
        try await watched { try await self.base.latest(of: vm, role: role) }
    }

    func history(vm: String?, limit: Int?, before: Int64?) async throws -> [GenerationRecord] {
        try await watched { try await self.base.history(vm: vm, limit: limit, before: before) }
    }

    func audit(_ vm: VMIdentity, kind: String, message: String) async throws {
        try await watched { try await self.base.audit(vm, kind: kind, message: message) }
    }

    func auditTrail(vm: String?, limit: Int?) async throws -> [AuditRecord] {
        try await watched { try await self.base.auditTrail(vm: vm, limit: limit) }
    }

    func duplicateValues() async throws -> [GenerationID] {
        try await watched { try await self.base.duplicateValues() }
    }

    /// Only `unavailable` means the ledger is unreachable; a refused value or
    /// argument is the ledger working.
    private func watched<T>(_ operation: () async throws -> T) async throws -> T {
        do {
            let result = try await operation()
            note(nil)
            return result
        } catch let StoreError.unavailable(message) {
            note(message)
            metrics.ledgerFailure()
            throw StoreError.unavailable(message)
        } catch {
            note(nil)
            throw error
        }
    }

    private func note(_ failure: String?) {
        lastFailure.withLock { last in
            if last != nil, failure == nil { recoveryCount.add(1, ordering: .relaxed) }
            last = failure
        }
        metrics.ledgerReachable(failure == nil)
    }
}
