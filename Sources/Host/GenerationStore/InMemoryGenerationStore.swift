import Foundation
import VMGenID

/// A store in this process's memory: the same guarantees as the database
/// ones, for unit tests and dry runs. Nothing survives the process.
public actor InMemoryGenerationStore: GenerationStore {
    public nonisolated let location = "memory"
    private var records: [GenerationRecord] = []
    private var byValue: [GenerationID: Int] = [:]
    private var trail: [AuditRecord] = []

    public init() {}

    public func record(_ value: GenerationID, for vm: VMIdentity, role: GenerationRole, event: String, detail: String?,
                       origin: GenerationRecord.Origin) throws -> GenerationRecord {
        try StoreArguments.requireNonEmpty(vm.name, "vm")
        try StoreArguments.requireNonEmpty(event, "event")
        if let index = byValue[value] { throw StoreError.valueAlreadyRecorded(records[index]) }
        let record = GenerationRecord(id: Int64(records.count + 1), vm: vm, value: value, role: role, event: event,
                                      detail: detail, origin: origin, createdAt: Date())
        byValue[value] = records.count
        records.append(record)
        return record
    }

    public func owner(of value: GenerationID) -> GenerationRecord? {
        byValue[value].map { records[$0] }
    }

    public func latest(of vm: VMIdentity, role: GenerationRole) -> GenerationRecord? {
        records.last { $0.role == role && $0.vm.isSameVM(as: vm) }
    }

    public func history(vm: String?, limit: Int?) throws -> [GenerationRecord] {
        try StoreArguments.requireValidLimit(limit)
        let selected = records.filter { vm == nil || $0.vm.name == vm || $0.vm.uuid == vm?.lowercased() }
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
