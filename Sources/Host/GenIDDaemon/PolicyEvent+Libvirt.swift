import GenIDPolicy
import Libvirt

extension PolicyEvent {
    /// libvirt's lifecycle event, as the policy table names it.
    init(_ kind: DomainLifecycleEvent.Kind) {
        switch kind {
        case .defined(let detail):
            switch detail {
            case .added: self = .defined(.added)
            case .updated: self = .defined(.updated)
            case .renamed: self = .defined(.renamed)
            case .fromSnapshot: self = .defined(.fromSnapshot)
            case .unknown: self = .defined(.other)
            }
        case .undefined: self = .undefined
        case .started(let detail):
            switch detail {
            case .booted: self = .started(.booted)
            case .migrated: self = .started(.migrated)
            case .restored: self = .started(.restored)
            case .fromSnapshot: self = .started(.fromSnapshot)
            case .wakeup: self = .started(.wakeup)
            case .unknown: self = .started(.other)
            }
        case .suspended: self = .suspended
        case .resumed(let detail):
            switch detail {
            case .unpaused: self = .resumed(.unpaused)
            case .migrated: self = .resumed(.migrated)
            case .fromSnapshot: self = .resumed(.fromSnapshot)
            case .postcopy: self = .resumed(.postcopy)
            case .unknown: self = .resumed(.other)
            }
        case .stopped(let detail):
            switch detail {
            case .shutdown: self = .stopped(.shutdown)
            case .destroyed: self = .stopped(.destroyed)
            case .crashed: self = .stopped(.crashed)
            case .migrated: self = .stopped(.migrated)
            case .saved: self = .stopped(.saved)
            case .failed: self = .stopped(.failed)
            case .fromSnapshot: self = .stopped(.fromSnapshot)
            case .unknown: self = .stopped(.other)
            }
        case .shutdown: self = .shutdown
        case .pmSuspended: self = .pmSuspended
        case .crashed: self = .crashed
        case .reset: self = .reset
        case .unknown: self = .unknown
        }
    }
}
