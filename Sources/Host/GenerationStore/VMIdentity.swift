/// Which VM a value belongs to, in a way that survives a rename.
///
/// A libvirt domain has a UUID that stays when its name changes; a plain
/// QEMU started without `-uuid` has only the name the caller gives it. Two
/// identities are the same VM when both UUIDs are known and equal, or when
/// at least one side has no UUID and the names are equal (records written
/// before identities carried UUIDs have none).
public struct VMIdentity: Sendable, Hashable, CustomStringConvertible {
    /// The name at the time (libvirt's domain name, or the name given to genidctl).
    public var name: String
    /// Lower-case RFC 4122 text, when the VM has one.
    public var uuid: String?

    public init(name: String, uuid: String? = nil) {
        self.name = name
        self.uuid = uuid?.lowercased()
    }

    public func isSameVM(as other: VMIdentity) -> Bool {
        if let uuid, let otherUUID = other.uuid { return uuid == otherUUID }
        return name == other.name
    }

    public var description: String { uuid.map { "\(name) (\($0))" } ?? name }
}
