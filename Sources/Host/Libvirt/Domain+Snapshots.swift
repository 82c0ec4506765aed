import CLibvirt
import Foundation

extension Domain {
    /// `virDomainSnapshotCreateXML` with `<domainsnapshot><name>…`; returns
    /// the snapshot's name.
    @discardableResult
    public func createSnapshot(
        named name: String, description: String? = nil, options: SnapshotCreateOptions = []
    ) throws(LibvirtError) -> String {
        var xml = "<domainsnapshot><name>\(xmlEscaped(name))</name>"
        if let description { xml += "<description>\(xmlEscaped(description))</description>" }
        xml += "</domainsnapshot>"
        return try createSnapshot(xml: xml, options: options)
    }

    /// `virDomainSnapshotCreateXML` with a full `<domainsnapshot>` document.
    @discardableResult
    public func createSnapshot(xml: String, options: SnapshotCreateOptions = []) throws(LibvirtError) -> String {
        let operation = "creating a snapshot of domain '\(name)'"
        guard let snapshot = virDomainSnapshotCreateXML(pointer, xml, options.rawValue) else {
            throw LibvirtError.last(operation)
        }
        defer { _ = virDomainSnapshotFree(snapshot) }
        return virDomainSnapshotGetName(snapshot).map { String(cString: $0) } ?? ""
    }

    /// `virDomainRevertToSnapshot`. A running revert of a `<genid>` domain
    /// gets a fresh value from libvirt (STOPPED/FROM_SNAPSHOT +
    /// STARTED/FROM_SNAPSHOT); an inactive one only emits DEFINED/FROM_SNAPSHOT.
    public func revertToSnapshot(named snapshotName: String, options: SnapshotRevertOptions = []) throws(LibvirtError) {
        let operation = "reverting domain '\(name)' to snapshot '\(snapshotName)'"
        let snapshot = try lookUpSnapshot(snapshotName, operation)
        defer { _ = virDomainSnapshotFree(snapshot) }
        try check(virDomainRevertToSnapshot(snapshot, options.rawValue), operation)
    }

    /// `virDomainSnapshotDelete` (metadata and, for internal snapshots, data).
    public func deleteSnapshot(named snapshotName: String) throws(LibvirtError) {
        let operation = "deleting snapshot '\(snapshotName)' of domain '\(name)'"
        let snapshot = try lookUpSnapshot(snapshotName, operation)
        defer { _ = virDomainSnapshotFree(snapshot) }
        try check(virDomainSnapshotDelete(snapshot, 0), operation)
    }

    /// `virDomainListAllSnapshots`: the names of all snapshots.
    public func snapshotNames() throws(LibvirtError) -> [String] {
        var list: UnsafeMutablePointer<virDomainSnapshotPtr?>?
        let count = virDomainListAllSnapshots(pointer, &list, 0)
        guard count >= 0, let list else { throw LibvirtError.last("listing the snapshots of domain '\(name)'") }
        defer { free(list) }
        return (0..<Int(count)).compactMap { index -> String? in
            guard let snapshot = list[index] else { return nil }
            defer { _ = virDomainSnapshotFree(snapshot) }
            return virDomainSnapshotGetName(snapshot).map { String(cString: $0) }
        }
    }

    /// `virDomainSnapshotGetXMLDesc`: the snapshot's XML, which embeds the
    /// domain definition it would restore (`<domainsnapshot><domain>`).
    public func snapshotXML(named snapshotName: String) throws(LibvirtError) -> String {
        let operation = "reading snapshot '\(snapshotName)' of domain '\(name)'"
        let snapshot = try lookUpSnapshot(snapshotName, operation)
        defer { _ = virDomainSnapshotFree(snapshot) }
        return try takeCString(virDomainSnapshotGetXMLDesc(snapshot, 0), operation)
    }

    /// `virDomainSnapshotCurrent`: the name of libvirt's current snapshot
    /// (the parent of the next one), nil if there is none.
    public func currentSnapshotName() throws(LibvirtError) -> String? {
        let operation = "reading the current snapshot of domain '\(name)'"
        let has = virDomainHasCurrentSnapshot(pointer, 0)
        guard has >= 0 else { throw LibvirtError.last(operation) }
        guard has == 1 else { return nil }
        guard let snapshot = virDomainSnapshotCurrent(pointer, 0) else { throw LibvirtError.last(operation) }
        defer { _ = virDomainSnapshotFree(snapshot) }
        return virDomainSnapshotGetName(snapshot).map { String(cString: $0) }
    }

    /// Makes an existing snapshot libvirt's current one, as `virsh
    /// snapshot-current NAME` does: its own XML redefined with CURRENT.
    /// For a revert done behind libvirt's back (genidd's, in one QEMU).
    public func makeSnapshotCurrent(named snapshotName: String) throws(LibvirtError) {
        let operation = "making snapshot '\(snapshotName)' of domain '\(name)' current"
        let snapshot = try lookUpSnapshot(snapshotName, operation)
        defer { _ = virDomainSnapshotFree(snapshot) }
        let xml = try takeCString(virDomainSnapshotGetXMLDesc(snapshot, UInt32(VIR_DOMAIN_SNAPSHOT_XML_SECURE.rawValue)),
                                  operation)
        try createSnapshot(xml: xml, options: [.redefine, .current])
    }

    private func lookUpSnapshot(_ snapshotName: String, _ operation: String) throws(LibvirtError) -> virDomainSnapshotPtr {
        guard let snapshot = virDomainSnapshotLookupByName(pointer, snapshotName, 0) else {
            throw LibvirtError.last(operation)
        }
        return snapshot
    }
}

/// Flags of `virDomainSnapshotCreateXML`.
public struct SnapshotCreateOptions: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Only the disks, no memory state.
    public static let diskOnly = SnapshotCreateOptions(VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY)
    /// Stop the domain after taking the snapshot.
    public static let halt = SnapshotCreateOptions(VIR_DOMAIN_SNAPSHOT_CREATE_HALT)
    /// Pause the domain while taking the snapshot (a consistent live snapshot).
    public static let live = SnapshotCreateOptions(VIR_DOMAIN_SNAPSHOT_CREATE_LIVE)
    /// Keep no libvirt metadata for the snapshot (QEMU's internal one only).
    public static let noMetadata = SnapshotCreateOptions(VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA)
    /// Use quiesce through the guest agent.
    public static let quiesce = SnapshotCreateOptions(VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE)
    /// Atomic: all disks or none.
    public static let atomic = SnapshotCreateOptions(VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC)
    /// Reinstate the metadata of a snapshot from its XML (no new state is taken).
    public static let redefine = SnapshotCreateOptions(VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE)
    /// With `redefine`: make that snapshot the current one.
    public static let current = SnapshotCreateOptions(VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT)

    init<C: RawRepresentable>(_ constant: C) where C.RawValue: BinaryInteger {
        rawValue = UInt32(truncatingIfNeeded: constant.rawValue)
    }
}

/// Flags of `virDomainRevertToSnapshot`.
public struct SnapshotRevertOptions: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// End up running, whatever the snapshot's state.
    public static let running = SnapshotRevertOptions(VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING)
    /// End up paused, whatever the snapshot's state.
    public static let paused = SnapshotRevertOptions(VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED)
    /// Allow risky reverts (e.g. across incompatible configurations).
    public static let force = SnapshotRevertOptions(VIR_DOMAIN_SNAPSHOT_REVERT_FORCE)

    init<C: RawRepresentable>(_ constant: C) where C.RawValue: BinaryInteger {
        rawValue = UInt32(truncatingIfNeeded: constant.rawValue)
    }
}
