import VMGenID

/// Every VM Generation ID ever given to (or seen in) every VM, and an audit
/// trail: the ledger. genidd, genidctl and the lab use only this protocol;
/// `SQLiteGenerationStore` is the embedded one-host implementation and
/// `InMemoryGenerationStore` the one tests use.
///
/// The guarantee that makes a value safe to give: `record` refuses a value
/// the store already holds, for any VM, whoever races (a constraint in the
/// store, not a look-up by the caller). Callers record a value before it
/// reaches a guest, so a crash in between loses nothing and reuses nothing.
public protocol GenerationStore: Sendable {
    /// Where the store lives, for messages ("/var/lib/genid/ledger.sqlite", "memory").
    var location: String { get }

    /// The host named in every record this store writes (`HostName.current`
    /// unless the caller chose).
    var host: String { get }

    /// Records `value` for `vm`, or throws `StoreError.valueAlreadyRecorded`
    /// with the record that holds it.
    @discardableResult
    func record(_ value: GenerationID, for vm: VMIdentity, role: GenerationRole, event: String, detail: String?,
                origin: GenerationRecord.Origin) async throws -> GenerationRecord

    /// Moves the record of `value` to this store's host: `vm` went there by
    /// live migration and took the value with it. The value stays one
    /// record (a move is not a new value); an audit entry names both hosts.
    /// Throws `StoreError.notRecorded` unless `value` is recorded for `vm`.
    @discardableResult
    func move(_ value: GenerationID, of vm: VMIdentity) async throws -> GenerationRecord

    /// The record of `value`; nil if it was never given to or seen in any VM.
    func owner(of value: GenerationID) async throws -> GenerationRecord?

    /// The newest value recorded for `vm` in `role`.
    func latest(of vm: VMIdentity, role: GenerationRole) async throws -> GenerationRecord?

    /// What the ledger says about `values` and `vm` at once: the record of
    /// each value it holds, and `vm`'s newest record in each role. genidd
    /// asks this of every domain at every reconciliation; a store on the
    /// network answers it in one round trip.
    func view(of values: [GenerationID], for vm: VMIdentity) async throws -> LedgerView

    /// Records oldest first: of the VMs whose name or UUID is `vm` (all VMs
    /// when nil); with `before`, only those whose id is smaller (a page of
    /// an older part); with `limit`, only the newest `limit` of them.
    func history(vm: String?, limit: Int?, before: Int64?) async throws -> [GenerationRecord]

    /// Notes a check, failure or decision about a VM.
    func audit(_ vm: VMIdentity, kind: String, message: String) async throws

    /// Audit entries oldest first, selected like `history`.
    func auditTrail(vm: String?, limit: Int?) async throws -> [AuditRecord]

    /// Values held more than once. Always empty while the store keeps its
    /// guarantee; `genidctl history --check` and the tests ask.
    func duplicateValues() async throws -> [GenerationID]
}

/// The answer of `GenerationStore.view(of:for:)`.
public struct LedgerView: Sendable, Equatable {
    /// The record of each asked value the ledger holds.
    public var records: [GenerationID: GenerationRecord]
    public var latestLive: GenerationRecord?
    public var latestPersistent: GenerationRecord?

    public init(records: [GenerationID: GenerationRecord], latestLive: GenerationRecord?,
                latestPersistent: GenerationRecord?) {
        self.records = records
        self.latestLive = latestLive
        self.latestPersistent = latestPersistent
    }
}

extension GenerationStore {
    /// `view(of:for:)` by one question at a time, for stores where a
    /// question is cheap (a file, memory).
    public func viewByLookups(of values: [GenerationID], for vm: VMIdentity) async throws -> LedgerView {
        var records: [GenerationID: GenerationRecord] = [:]
        for value in Set(values) {
            if let record = try await owner(of: value) { records[value] = record }
        }
        return LedgerView(records: records, latestLive: try await latest(of: vm, role: .live),
                              latestPersistent: try await latest(of: vm, role: .persistent))
    }

    /// How many values `issueFresh` draws before giving up. A healthy random
    /// source never repeats a 122-bit value, so hitting this means it is broken.
    public static var freshAttempts: Int { 16 }

    /// Draws a value never recorded before and records it for `vm`: the
    /// value a state load is about to give.
    public func issueFresh(for vm: VMIdentity, role: GenerationRole = .live, event: String, detail: String? = nil,
                           attempts: Int = Self.freshAttempts,
                           generate: () -> GenerationID = GenerationID.random) async throws -> GenerationRecord {
        guard attempts > 0 else { throw StoreError.invalidArgument("attempts must be at least 1, got \(attempts)") }
        for _ in 0..<attempts {
            do {
                return try await record(generate(), for: vm, role: role, event: event, detail: detail, origin: .issued)
            } catch StoreError.valueAlreadyRecorded {
                continue
            }
        }
        throw StoreError.noFreshValue(vm: vm.name, attempts: attempts)
    }

    /// Records a value genid did not choose. Recorded for this same VM
    /// already (another handler, or an earlier genidd): fine, nothing to do.
    /// Recorded for another VM: `StoreError.valueAlreadyRecorded`.
    public func recordObserved(_ value: GenerationID, for vm: VMIdentity, role: GenerationRole, event: String,
                               detail: String? = nil) async throws {
        do {
            try await record(value, for: vm, role: role, event: event, detail: detail, origin: .observed)
        } catch StoreError.valueAlreadyRecorded(let owner) where owner.vm.isSameVM(as: vm) {
            return
        }
    }

    public func history(vm: String? = nil) async throws -> [GenerationRecord] {
        try await history(vm: vm, limit: nil, before: nil)
    }

    public func history(vm: String?, limit: Int?) async throws -> [GenerationRecord] {
        try await history(vm: vm, limit: limit, before: nil)
    }
}

/// Argument checks every implementation makes the same way.
public enum StoreArguments {
    public static func requireNonEmpty(_ text: String, _ field: String) throws(StoreError) {
        if text.isEmpty { throw .invalidArgument("\(field) must not be empty") }
    }

    public static func requireValidLimit(_ limit: Int?) throws(StoreError) {
        if let limit, limit < 0 { throw .invalidArgument("limit must not be negative, got \(limit)") }
    }
}
