import CLibvirt
import Foundation

/// A `virDomainPtr`. libvirt domain objects are thread-safe and the pointer
/// never changes, so the handle may be shared between threads; it owns one
/// reference, dropped in deinit (`virDomainFree`). The reference also keeps
/// the underlying libvirt connection alive, so a `Domain` outlives
/// `Connection.close()`.
public final class Domain: @unchecked Sendable {
    let pointer: virDomainPtr

    init(pointer: virDomainPtr) {
        self.pointer = pointer
    }

    deinit {
        _ = virDomainFree(pointer)
    }

    /// The domain's current name (a rename changes it; the UUID stays).
    public var name: String {
        virDomainGetName(pointer).map { String(cString: $0) } ?? ""
    }

    /// Lower-case RFC 4122 text of the domain's UUID.
    public var uuidString: String {
        domainUUIDString(pointer) ?? ""
    }

    public var uuid: UUID? {
        UUID(uuidString: uuidString)
    }

    /// The hypervisor's id of a running domain; nil when it is not running.
    public var id: UInt32? {
        let id = virDomainGetID(pointer)
        return id == UInt32.max ? nil : id
    }

    /// `virDomainGetState`: the state and its reason number.
    public func state() throws(LibvirtError) -> DomainStateInfo {
        var state: Int32 = 0
        var reason: Int32 = 0
        guard virDomainGetState(pointer, &state, &reason, 0) == 0 else {
            throw LibvirtError.last("reading the state of domain '\(name)'")
        }
        return DomainStateInfo(state: DomainState(raw: state), reason: reason)
    }

    public func isActive() throws(LibvirtError) -> Bool {
        try boolean(virDomainIsActive(pointer), "checking whether domain '\(name)' is running")
    }

    public func isPersistent() throws(LibvirtError) -> Bool {
        try boolean(virDomainIsPersistent(pointer), "checking whether domain '\(name)' is persistent")
    }

    /// `virDomainGetXMLDesc`: the live definition, or with `inactive` the
    /// persistent one (what the next start uses). `secure` adds passwords.
    public func xmlDescription(inactive: Bool = false, secure: Bool = false) throws(LibvirtError) -> String {
        var flags: UInt32 = 0
        if inactive { flags |= UInt32(truncatingIfNeeded: VIR_DOMAIN_XML_INACTIVE.rawValue) }
        if secure { flags |= UInt32(truncatingIfNeeded: VIR_DOMAIN_XML_SECURE.rawValue) }
        let which = inactive ? "persistent" : "live"
        return try takeCString(virDomainGetXMLDesc(pointer, flags), "reading the \(which) XML of domain '\(name)'")
    }

    /// `virDomainCreateWithFlags`: starts a defined domain (STARTED/BOOTED).
    public func start(paused: Bool = false) throws(LibvirtError) {
        let flags = paused ? UInt32(truncatingIfNeeded: VIR_DOMAIN_START_PAUSED.rawValue) : 0
        try check(virDomainCreateWithFlags(pointer, flags), "starting domain '\(name)'")
    }

    /// `virDomainDestroy`: stops it at once, like pulling the plug (STOPPED/DESTROYED).
    public func destroy() throws(LibvirtError) {
        try check(virDomainDestroy(pointer), "destroying (forcibly stopping) domain '\(name)'")
    }

    /// `virDomainShutdown`: asks the guest to shut down.
    public func shutdown() throws(LibvirtError) {
        try check(virDomainShutdown(pointer), "shutting down domain '\(name)'")
    }

    /// `virDomainReset`: a hard reset of the guest, as its own reboot does
    /// (QEMU resets the devices in the same process; REBOOT event).
    public func reset() throws(LibvirtError) {
        try check(virDomainReset(pointer, 0), "resetting domain '\(name)'")
    }

    /// `virDomainSuspend` (SUSPENDED/PAUSED).
    public func suspend() throws(LibvirtError) {
        try check(virDomainSuspend(pointer), "pausing domain '\(name)'")
    }

    /// `virDomainResume` (RESUMED/UNPAUSED).
    public func resume() throws(LibvirtError) {
        try check(virDomainResume(pointer), "resuming domain '\(name)'")
    }

    /// `virDomainUndefineFlags`: removes the persistent definition (a running
    /// domain becomes transient). A domain with snapshots needs
    /// `.snapshotsMetadata`.
    public func undefine(_ options: UndefineOptions = []) throws(LibvirtError) {
        try check(virDomainUndefineFlags(pointer, options.rawValue), "undefining domain '\(name)'")
    }

    /// `virDomainSave`: saves the running domain's memory state to `path` on
    /// the host running the driver and stops it (STOPPED/SAVED). See
    /// `Connection.restore(from:)`.
    public func save(to path: String) throws(LibvirtError) {
        try check(virDomainSave(pointer, path), "saving domain '\(name)' to \(path)")
    }

    func check(_ result: Int32, _ operation: @autoclosure () -> String) throws(LibvirtError) {
        if result < 0 { throw LibvirtError.last(operation()) }
    }

    private func boolean(_ result: Int32, _ operation: @autoclosure () -> String) throws(LibvirtError) -> Bool {
        if result < 0 { throw LibvirtError.last(operation()) }
        return result == 1
    }
}

/// Flags of `virDomainUndefineFlags`.
public struct UndefineOptions: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Also remove the domain's snapshot metadata (not the disk contents).
    public static let snapshotsMetadata = UndefineOptions(VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
    /// Also remove a managed save image.
    public static let managedSave = UndefineOptions(VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
    /// Also remove the UEFI variable store.
    public static let nvram = UndefineOptions(VIR_DOMAIN_UNDEFINE_NVRAM)
    /// Also remove checkpoint metadata.
    public static let checkpointsMetadata = UndefineOptions(VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA)

    init<C: RawRepresentable>(_ constant: C) where C.RawValue: BinaryInteger {
        rawValue = UInt32(truncatingIfNeeded: constant.rawValue)
    }
}
