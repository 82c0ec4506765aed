import Foundation
import VMGenID

/// A store in this process's memory: the same guarantees as the database
/// ones, for unit tests and dry runs. Nothing survives the process.
public actor InMemoryGenerationStore: GenerationStore {
    public nonisolated let location = "memory"
    /// The host named in every record this store writes.
    public nonisolated let host: String
    private var records: [GenerationRecord] = []
    private var byValue: [GenerationID: Int] = [:]
    private var trail: [AuditRecord] = []

    public init(host: String = HostName.current) {
        self.host = host
    }

    public func record(_ value: GenerationID, for vm: VMIdentity, role: GenerationRole, event: String, detail: String?,
                       origin: GenerationRecord.Origin) throws -> GenerationRecord {
        try StoreArguments.requireNonEmpty(vm.name, "vm")
        try StoreArguments.requireNonEmpty(event, "event")
        if let index = byValue[value] { throw StoreError.valueAlreadyRecorded(records[index]) }
        let record = GenerationRecord(id: Int64(records.count + 1), vm: vm, host: host, value: value, role: role, event: event,
                                      detail: detail, origin: origin, createdAt: Date())
        byValue[value] = records.count
        records.append(record)
        return record
    }

    public func move(_ value: GenerationID, of vm: VMIdentity) throws -> GenerationRecord {
        guard let index = byValue[value], records[index].vm.isSameVM(as: vm) else {
            throw StoreError.notRecorded(value, vm: vm.name)
        }
        let from = records[index].host ?? "an unnamed host"
        records[index].host = host
        try audit(vm, kind: "moved", message: "\(value) moved with the VM from \(from) to \(host)")
        return records[index]
    }

    public func view(of values: [GenerationID], for vm: VMIdentity) async throws -> LedgerView {
        try await viewByLookups(of: values, for: vm)
    }

    public func owner(of value: GenerationID) -> GenerationRecord? {
        byValue[value].map { records[$0] }
    }

    public func latest(of vm: VMIdentity, role: GenerationRole) -> GenerationRecord? {
        records.last { $0.role == role && $0.vm.isSameVM(as: vm) }
    }

    public func history(vm: String?, limit: Int?, before: Int64?) throws -> [GenerationRecord] {
        try StoreArguments.requireValidLimit(limit)
        let selected = records.filter {
            (vm == nil || $0.vm.name == vm || $0.vm.uuid == vm?.lowercased()) && $0.id < before ?? .max
        }
        return limit.map { Array(selected.suffix($0)) } ?? selected
    }

    public func audit(_ vm: VMIdentity, kind: String, message: String) throws {
        try StoreArguments.requireNonEmpty(vm.name, "vm")
        try StoreArguments.requireNonEmpty(kind, "kind")
        trail.append(AuditRecord(id: Int64(trail.count + 1), vm: vm.name, kind: kind, message: message, createdAt: Date()))
    }

    public func auditTrail(vm: String?, limit: Int?) throws -> [AuditRecord] {
        try StoreArguments.requireValidLimit(limit)
        let selected = trail.filter { vm == nil || $0.vm == vm }
        return limit.map { Array(selected.suffix($0)) } ?? selected
    }

    public func duplicateValues() -> [GenerationID] {
        Dictionary(grouping: records, by: \.value).filter { $0.value.count > 1 }.keys.sorted { $0.description < $1.description }
    }
}
