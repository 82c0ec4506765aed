/// What genidd reacts to: libvirt's lifecycle events (type/detail, mirrored
/// here so the policy needs no libvirt), plus the reconciliation pass run on
/// every (re)connection.
public enum PolicyEvent: Sendable, Hashable, CustomStringConvertible {
    case defined(Defined)
    case undefined
    case started(Started)
    case suspended
    case resumed(Resumed)
    case stopped(Stopped)
    case shutdown
    case pmSuspended
    case crashed
    /// The guest was reset (reboot): QEMU hands the firmware its device's
    /// own value again.
    case reset
    /// An event type this table does not know.
    case unknown
    /// genidd (re)connected: look at the domain as it is now, to catch what
    /// happened while nobody watched.
    case reconcile

    public enum Defined: Sendable, Hashable { case added, updated, renamed, fromSnapshot, other }
    public enum Started: Sendable, Hashable { case booted, migrated, restored, fromSnapshot, wakeup, other }
    public enum Resumed: Sendable, Hashable { case unpaused, migrated, fromSnapshot, postcopy, other }
    public enum Stopped: Sendable, Hashable {
        case shutdown, destroyed, crashed, migrated, saved, failed, fromSnapshot, other
    }

    public var description: String {
        switch self {
        case .defined(let detail): "DEFINED/\(detail)"
        case .undefined: "UNDEFINED"
        case .started(let detail): "STARTED/\(detail)"
        case .suspended: "SUSPENDED"
        case .resumed(let detail): "RESUMED/\(detail)"
        case .stopped(let detail): "STOPPED/\(detail)"
        case .shutdown: "SHUTDOWN"
        case .pmSuspended: "PMSUSPENDED"
        case .crashed: "CRASHED"
        case .reset: "REBOOT"
        case .unknown: "unknown event"
        case .reconcile: "reconciliation"
        }
    }
}
