import CLibvirt
import Foundation

extension Domain {
    /// `virDomainSetMetadata` with an element: sets (or with nil removes)
    /// the `<metadata>` child in `namespace`, written with prefix `key`. On
    /// a running domain `live` changes the live definition, which a
    /// migration carries to its destination.
    public func setMetadata(element: String?, key: String, namespace: String, live: Bool) throws(LibvirtError) {
        let flags = live ? VIR_DOMAIN_AFFECT_LIVE.rawValue : VIR_DOMAIN_AFFECT_CONFIG.rawValue
        let type = Int32(VIR_DOMAIN_METADATA_ELEMENT.rawValue)
        try check(virDomainSetMetadata(pointer, type, element, element == nil ? nil : key, namespace, flags),
                  "setting the \(key) metadata of domain '\(name)'")
    }

    /// Whether libvirt runs a long job on the domain now (a migration, a
    /// save, a dump, a snapshot): `virDomainGetJobInfo`.
    public func hasActiveJob() throws(LibvirtError) -> Bool {
        var info = virDomainJobInfo()
        try check(virDomainGetJobInfo(pointer, &info), "reading the job of domain '\(name)'")
        return info.type != Int32(VIR_DOMAIN_JOB_NONE.rawValue)
    }

    /// Whether libvirt is bringing the domain in or taking it away now: the
    /// destination's domain of a migration is paused ("starting up", then
    /// "migrating") and has no job statistics, as is any domain whose QEMU
    /// is still starting (a boot, a restore); the source's job has a
    /// migration as its operation (`virDomainGetJobStats`).
    public func isInTransit() throws(LibvirtError) -> Bool {
        let state = try state()
        if state.state == .paused, state.reason == cInt(VIR_DOMAIN_PAUSED_MIGRATION)
            || state.reason == cInt(VIR_DOMAIN_PAUSED_STARTING_UP) {
            return true
        }
        // A shut-off domain has no job to ask about (most defined domains).
        if state.state == .shutOff { return false }
        var type: Int32 = 0
        var parameters: virTypedParameterPtr?
        var count: Int32 = 0
        try check(virDomainGetJobStats(pointer, &type, &parameters, &count, 0),
                  "reading the job of domain '\(name)'")
        defer { virTypedParamsFree(parameters, count) }
        guard type != Int32(VIR_DOMAIN_JOB_NONE.rawValue) else { return false }
        var operation: Int32 = 0
        guard virTypedParamsGetInt(parameters, count, VIR_DOMAIN_JOB_OPERATION, &operation) == 1 else { return false }
        return operation == Int32(VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN.rawValue)
            || operation == Int32(VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT.rawValue)
    }

    /// `virDomainAbortJob`: cancels the domain's long job (a migration fails
    /// with "operation aborted").
    public func abortJob() throws(LibvirtError) {
        try check(virDomainAbortJob(pointer), "aborting the job of domain '\(name)'")
    }

    /// `virDomainMigrateToURI3`, peer to peer: this domain's libvirtd
    /// connects to `destination` (a libvirt URI such as
    /// `qemu+tcp://HOST/system`) and migrates it there.
    public func migratePeerToPeer(to destination: String, options: MigrationOptions) throws(LibvirtError) {
        let flags = options.union(.peerToPeer).rawValue
        try check(virDomainMigrateToURI3(pointer, destination, nil, 0, flags),
                  "migrating domain '\(name)' to \(destination)")
    }
}

/// Flags of `virDomainMigrate*`.
public struct MigrationOptions: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    init(_ flag: virDomainMigrateFlags) { rawValue = flag.rawValue }

    /// The guest keeps running while its memory is copied.
    public static let live = MigrationOptions(VIR_MIGRATE_LIVE)
    /// The source libvirtd talks to the destination's itself.
    public static let peerToPeer = MigrationOptions(VIR_MIGRATE_PEER2PEER)
    /// Define the domain on the destination.
    public static let persistDestination = MigrationOptions(VIR_MIGRATE_PERSIST_DEST)
    /// Remove the definition from the source.
    public static let undefineSource = MigrationOptions(VIR_MIGRATE_UNDEFINE_SOURCE)
    /// Skip libvirt's safety checks of disk caching (shared storage the
    /// caller vouches for, such as one machine's own file system).
    public static let unsafe = MigrationOptions(VIR_MIGRATE_UNSAFE)
}

extension Domain {
    /// The guest's downtime in the last completed migration
    /// (`virDomainGetJobStats` with `VIR_DOMAIN_JOB_STATS_COMPLETED`, field
    /// `downtime`): asked on the destination after it arrived. nil when
    /// libvirt reports none.
    public func completedMigrationDowntime() throws(LibvirtError) -> Duration? {
        var type: Int32 = 0
        var parameters: virTypedParameterPtr?
        var count: Int32 = 0
        let flags = UInt32(VIR_DOMAIN_JOB_STATS_COMPLETED.rawValue)
        try check(virDomainGetJobStats(pointer, &type, &parameters, &count, flags),
                  "reading the completed job of domain '\(name)'")
        defer { virTypedParamsFree(parameters, count) }
        var milliseconds: UInt64 = 0
        guard virTypedParamsGetULLong(parameters, count, VIR_DOMAIN_JOB_DOWNTIME, &milliseconds) == 1 else {
            return nil
        }
        return .milliseconds(Int64(milliseconds))
    }
}
