import Foundation
import VMGenID

/// One value given to (or seen in) one VM, and why. `value` is unique
/// across the whole store: that is the guarantee that a VM Generation ID is
/// never given twice, whichever VM it went to.
public struct GenerationRecord: Sendable, Equatable {
    /// Whether genid chose the value or only saw it. Both kinds block reuse.
    public enum Origin: String, Sendable, Equatable, Codable, CaseIterable {
        /// genid generated the value and wrote (or is about to write) it into the VM.
        case issued
        /// genid found the value already in the VM (e.g. the value QEMU chose at boot).
        case observed
    }

    /// Increases with time, so it orders the history.
    public var id: Int64
    public var vm: VMIdentity
    /// The host whose genid wrote the record (`HostName.current` there); nil
    /// in records written before genid named hosts. In a fleet ledger a
    /// live migration moves the record to the destination host.
    public var host: String?
    public var value: GenerationID
    public var role: GenerationRole
    /// What caused the value: "boot", "revert", "restore", "rotate", "clone", ...
    public var event: String
    /// Free text for a person: snapshot name, state file, reason.
    public var detail: String?
    public var origin: Origin
    public var createdAt: Date

    public init(id: Int64, vm: VMIdentity, host: String? = nil, value: GenerationID, role: GenerationRole = .live,
                event: String, detail: String? = nil, origin: Origin, createdAt: Date) {
        self.id = id
        self.vm = vm
        self.host = host
        self.value = value
        self.role = role
        self.event = event
        self.detail = detail
        self.origin = origin
        self.createdAt = createdAt
    }
}

/// JSON as `genidctl history --json` prints it: flat, the value as text.
extension GenerationRecord: Codable {
    enum CodingKeys: String, CodingKey {
        case id, vm, vmUUID, host, value, role, event, detail, origin, createdAt
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(Int64.self, forKey: .id)
        vm = VMIdentity(name: try container.decode(String.self, forKey: .vm),
                        uuid: try container.decodeIfPresent(String.self, forKey: .vmUUID))
        host = try container.decodeIfPresent(String.self, forKey: .host)
        value = try container.decode(GenerationID.self, forKey: .value)
        role = try container.decodeIfPresent(GenerationRole.self, forKey: .role) ?? .live
        event = try container.decode(String.self, forKey: .event)
        detail = try container.decodeIfPresent(String.self, forKey: .detail)
        origin = try container.decode(Origin.self, forKey: .origin)
        createdAt = try container.decode(Date.self, forKey: .createdAt)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(vm.name, forKey: .vm)
        try container.encodeIfPresent(vm.uuid, forKey: .vmUUID)
        try container.encodeIfPresent(host, forKey: .host)
        try container.encode(value, forKey: .value)
        try container.encode(role, forKey: .role)
        try container.encode(event, forKey: .event)
        try container.encodeIfPresent(detail, forKey: .detail)
        try container.encode(origin, forKey: .origin)
        try container.encode(createdAt, forKey: .createdAt)
    }
}
