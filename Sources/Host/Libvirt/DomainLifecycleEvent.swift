import CLibvirt

/// One `VIR_DOMAIN_EVENT_ID_LIFECYCLE` event: what happened to which domain.
public struct DomainLifecycleEvent: Sendable, Hashable, CustomStringConvertible {
    public let domainName: String
    /// Lower-case RFC 4122 text; the domain's stable identity (names can change).
    public let domainUUID: String
    public let kind: Kind
    /// When libvirt delivered it to this process (its callback ran). Not
    /// part of the event's identity: two reports of the same change are equal.
    public let received: ContinuousClock.Instant

    public init(domainName: String, domainUUID: String, kind: Kind, received: ContinuousClock.Instant = .now) {
        self.domainName = domainName
        self.domainUUID = domainUUID
        self.kind = kind
        self.received = received
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        (lhs.domainName, lhs.domainUUID, lhs.kind) == (rhs.domainName, rhs.domainUUID, rhs.kind)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(domainName)
        hasher.combine(domainUUID)
        hasher.combine(kind)
    }

    /// Decodes libvirt's `virDomainEventType` and its detail number.
    public init(domainName: String, domainUUID: String, type: Int32, detail: Int32) {
        self.init(domainName: domainName, domainUUID: domainUUID, kind: Kind(type: type, detail: detail))
    }

    /// "web: STARTED/RESTORED" (libvirt's own names, as `virsh event` prints them).
    public var description: String { "\(domainName): \(kind)" }

    /// `virDomainEventType` with its detail (`virDomainEvent*DetailType`).
    public enum Kind: Sendable, Hashable, CustomStringConvertible {
        case defined(Defined)
        case undefined(Undefined)
        case started(Started)
        case suspended(Suspended)
        case resumed(Resumed)
        case stopped(Stopped)
        case shutdown(Shutdown)
        case pmSuspended(PMSuspended)
        case crashed(Crashed)
        /// The guest was reset (a reboot, or `virDomainReset`): QEMU reset its
        /// devices in the same process. libvirt reports this apart from the
        /// lifecycle events (`VIR_DOMAIN_EVENT_ID_REBOOT`); the stream carries both.
        case reset
        /// An event type newer than libvirt 9.0's.
        case unknown(type: Int32, detail: Int32)

        public init(type: Int32, detail: Int32) {
            switch type {
            case cInt(VIR_DOMAIN_EVENT_DEFINED): self = .defined(Defined(detail))
            case cInt(VIR_DOMAIN_EVENT_UNDEFINED): self = .undefined(Undefined(detail))
            case cInt(VIR_DOMAIN_EVENT_STARTED): self = .started(Started(detail))
            case cInt(VIR_DOMAIN_EVENT_SUSPENDED): self = .suspended(Suspended(detail))
            case cInt(VIR_DOMAIN_EVENT_RESUMED): self = .resumed(Resumed(detail))
            case cInt(VIR_DOMAIN_EVENT_STOPPED): self = .stopped(Stopped(detail))
            case cInt(VIR_DOMAIN_EVENT_SHUTDOWN): self = .shutdown(Shutdown(detail))
            case cInt(VIR_DOMAIN_EVENT_PMSUSPENDED): self = .pmSuspended(PMSuspended(detail))
            case cInt(VIR_DOMAIN_EVENT_CRASHED): self = .crashed(Crashed(detail))
            default: self = .unknown(type: type, detail: detail)
            }
        }

        public var description: String {
            switch self {
            case .defined(let detail): return "DEFINED/\(detail)"
            case .undefined(let detail): return "UNDEFINED/\(detail)"
            case .started(let detail): return "STARTED/\(detail)"
            case .suspended(let detail): return "SUSPENDED/\(detail)"
            case .resumed(let detail): return "RESUMED/\(detail)"
            case .stopped(let detail): return "STOPPED/\(detail)"
            case .shutdown(let detail): return "SHUTDOWN/\(detail)"
            case .pmSuspended(let detail): return "PMSUSPENDED/\(detail)"
            case .crashed(let detail): return "CRASHED/\(detail)"
            case .reset: return "REBOOT"
            case .unknown(let type, let detail): return "EVENT\(type)/\(detail)"
            }
        }
    }

    public enum Defined: Sendable, Hashable, CustomStringConvertible {
        case added, updated, renamed, fromSnapshot, unknown(Int32)
        init(_ raw: Int32) {
            switch raw {
            case cInt(VIR_DOMAIN_EVENT_DEFINED_ADDED): self = .added
            case cInt(VIR_DOMAIN_EVENT_DEFINED_UPDATED): self = .updated
            case cInt(VIR_DOMAIN_EVENT_DEFINED_RENAMED): self = .renamed
            case cInt(VIR_DOMAIN_EVENT_DEFINED_FROM_SNAPSHOT): self = .fromSnapshot
            default: self = .unknown(raw)
            }
        }
        public var description: String {
            switch self {
            case .added: "ADDED"
            case .updated: "UPDATED"
            case .renamed: "RENAMED"
            case .fromSnapshot: "FROM_SNAPSHOT"
            case .unknown(let raw): "\(raw)"
            }
        }
    }

    public enum Undefined: Sendable, Hashable, CustomStringConvertible {
        case removed, renamed, unknown(Int32)
        init(_ raw: Int32) {
            switch raw {
            case cInt(VIR_DOMAIN_EVENT_UNDEFINED_REMOVED): self = .removed
            case cInt(VIR_DOMAIN_EVENT_UNDEFINED_RENAMED): self = .renamed
            default: self = .unknown(raw)
            }
        }
        public var description: String {
            switch self {
            case .removed: "REMOVED"
            case .renamed: "RENAMED"
            case .unknown(let raw): "\(raw)"
            }
        }
    }

    public enum Started: Sendable, Hashable, CustomStringConvertible {
        case booted, migrated, restored, fromSnapshot, wakeup, unknown(Int32)
        init(_ raw: Int32) {
            switch raw {
            case cInt(VIR_DOMAIN_EVENT_STARTED_BOOTED): self = .booted
            case cInt(VIR_DOMAIN_EVENT_STARTED_MIGRATED): self = .migrated
            case cInt(VIR_DOMAIN_EVENT_STARTED_RESTORED): self = .restored
            case cInt(VIR_DOMAIN_EVENT_STARTED_FROM_SNAPSHOT): self = .fromSnapshot
            case cInt(VIR_DOMAIN_EVENT_STARTED_WAKEUP): self = .wakeup
            default: self = .unknown(raw)
            }
        }
        public var description: String {
            switch self {
            case .booted: "BOOTED"
            case .migrated: "MIGRATED"
            case .restored: "RESTORED"
            case .fromSnapshot: "FROM_SNAPSHOT"
            case .wakeup: "WAKEUP"
            case .unknown(let raw): "\(raw)"
            }
        }
    }

    public enum Suspended: Sendable, Hashable, CustomStringConvertible {
        case paused, migrated, ioError, watchdog, restored, fromSnapshot, apiError, postcopy, postcopyFailed
        case unknown(Int32)
        init(_ raw: Int32) {
            switch raw {
            case cInt(VIR_DOMAIN_EVENT_SUSPENDED_PAUSED): self = .paused
            case cInt(VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED): self = .migrated
            case cInt(VIR_DOMAIN_EVENT_SUSPENDED_IOERROR): self = .ioError
            case cInt(VIR_DOMAIN_EVENT_SUSPENDED_WATCHDOG): self = .watchdog
            case cInt(VIR_DOMAIN_EVENT_SUSPENDED_RESTORED): self = .restored
            case cInt(VIR_DOMAIN_EVENT_SUSPENDED_FROM_SNAPSHOT): self = .fromSnapshot
            case cInt(VIR_DOMAIN_EVENT_SUSPENDED_API_ERROR): self = .apiError
            case cInt(VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY): self = .postcopy
            case cInt(VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY_FAILED): self = .postcopyFailed
            default: self = .unknown(raw)
            }
        }
        public var description: String {
            switch self {
            case .paused: "PAUSED"
            case .migrated: "MIGRATED"
            case .ioError: "IOERROR"
            case .watchdog: "WATCHDOG"
            case .restored: "RESTORED"
            case .fromSnapshot: "FROM_SNAPSHOT"
            case .apiError: "API_ERROR"
            case .postcopy: "POSTCOPY"
            case .postcopyFailed: "POSTCOPY_FAILED"
            case .unknown(let raw): "\(raw)"
            }
        }
    }

    public enum Resumed: Sendable, Hashable, CustomStringConvertible {
        case unpaused, migrated, fromSnapshot, postcopy, unknown(Int32)
        init(_ raw: Int32) {
            switch raw {
            case cInt(VIR_DOMAIN_EVENT_RESUMED_UNPAUSED): self = .unpaused
            case cInt(VIR_DOMAIN_EVENT_RESUMED_MIGRATED): self = .migrated
            case cInt(VIR_DOMAIN_EVENT_RESUMED_FROM_SNAPSHOT): self = .fromSnapshot
            case cInt(VIR_DOMAIN_EVENT_RESUMED_POSTCOPY): self = .postcopy
            default: self = .unknown(raw)
            }
        }
        public var description: String {
            switch self {
            case .unpaused: "UNPAUSED"
            case .migrated: "MIGRATED"
            case .fromSnapshot: "FROM_SNAPSHOT"
            case .postcopy: "POSTCOPY"
            case .unknown(let raw): "\(raw)"
            }
        }
    }

    public enum Stopped: Sendable, Hashable, CustomStringConvertible {
        case shutdown, destroyed, crashed, migrated, saved, failed, fromSnapshot, unknown(Int32)
        init(_ raw: Int32) {
            switch raw {
            case cInt(VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN): self = .shutdown
            case cInt(VIR_DOMAIN_EVENT_STOPPED_DESTROYED): self = .destroyed
            case cInt(VIR_DOMAIN_EVENT_STOPPED_CRASHED): self = .crashed
            case cInt(VIR_DOMAIN_EVENT_STOPPED_MIGRATED): self = .migrated
            case cInt(VIR_DOMAIN_EVENT_STOPPED_SAVED): self = .saved
            case cInt(VIR_DOMAIN_EVENT_STOPPED_FAILED): self = .failed
            case cInt(VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT): self = .fromSnapshot
            default: self = .unknown(raw)
            }
        }
        public var description: String {
            switch self {
            case .shutdown: "SHUTDOWN"
            case .destroyed: "DESTROYED"
            case .crashed: "CRASHED"
            case .migrated: "MIGRATED"
            case .saved: "SAVED"
            case .failed: "FAILED"
            case .fromSnapshot: "FROM_SNAPSHOT"
            case .unknown(let raw): "\(raw)"
            }
        }
    }

    public enum Shutdown: Sendable, Hashable, CustomStringConvertible {
        case finished, guest, host, unknown(Int32)
        init(_ raw: Int32) {
            switch raw {
            case cInt(VIR_DOMAIN_EVENT_SHUTDOWN_FINISHED): self = .finished
            case cInt(VIR_DOMAIN_EVENT_SHUTDOWN_GUEST): self = .guest
            case cInt(VIR_DOMAIN_EVENT_SHUTDOWN_HOST): self = .host
            default: self = .unknown(raw)
            }
        }
        public var description: String {
            switch self {
            case .finished: "FINISHED"
            case .guest: "GUEST"
            case .host: "HOST"
            case .unknown(let raw): "\(raw)"
            }
        }
    }

    public enum PMSuspended: Sendable, Hashable, CustomStringConvertible {
        case memory, disk, unknown(Int32)
        init(_ raw: Int32) {
            switch raw {
            case cInt(VIR_DOMAIN_EVENT_PMSUSPENDED_MEMORY): self = .memory
            case cInt(VIR_DOMAIN_EVENT_PMSUSPENDED_DISK): self = .disk
            default: self = .unknown(raw)
            }
        }
        public var description: String {
            switch self {
            case .memory: "MEMORY"
            case .disk: "DISK"
            case .unknown(let raw): "\(raw)"
            }
        }
    }

    public enum Crashed: Sendable, Hashable, CustomStringConvertible {
        case panicked, crashLoaded, unknown(Int32)
        init(_ raw: Int32) {
            switch raw {
            case cInt(VIR_DOMAIN_EVENT_CRASHED_PANICKED): self = .panicked
            case cInt(VIR_DOMAIN_EVENT_CRASHED_CRASHLOADED): self = .crashLoaded
            default: self = .unknown(raw)
            }
        }
        public var description: String {
            switch self {
            case .panicked: "PANICKED"
            case .crashLoaded: "CRASHLOADED"
            case .unknown(let raw): "\(raw)"
            }
        }
    }
}

/// A C enum constant as the `int` libvirt passes to callbacks.
func cInt<C: RawRepresentable>(_ constant: C) -> Int32 where C.RawValue: BinaryInteger {
    Int32(truncatingIfNeeded: constant.rawValue)
}
