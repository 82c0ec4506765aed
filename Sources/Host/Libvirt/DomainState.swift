import CLibvirt

/// `virDomainState`.
public enum DomainState: Sendable, Hashable, CustomStringConvertible {
    case noState, running, blocked, paused, shuttingDown, shutOff, crashed, pmSuspended
    case unknown(Int32)

    init(raw: Int32) {
        switch raw {
        case cInt(VIR_DOMAIN_NOSTATE): self = .noState
        case cInt(VIR_DOMAIN_RUNNING): self = .running
        case cInt(VIR_DOMAIN_BLOCKED): self = .blocked
        case cInt(VIR_DOMAIN_PAUSED): self = .paused
        case cInt(VIR_DOMAIN_SHUTDOWN): self = .shuttingDown
        case cInt(VIR_DOMAIN_SHUTOFF): self = .shutOff
        case cInt(VIR_DOMAIN_CRASHED): self = .crashed
        case cInt(VIR_DOMAIN_PMSUSPENDED): self = .pmSuspended
        default: self = .unknown(raw)
        }
    }

    /// As `virsh domstate` prints it.
    public var description: String {
        switch self {
        case .noState: "no state"
        case .running: "running"
        case .blocked: "blocked"
        case .paused: "paused"
        case .shuttingDown: "in shutdown"
        case .shutOff: "shut off"
        case .crashed: "crashed"
        case .pmSuspended: "pmsuspended"
        case .unknown(let raw): "state \(raw)"
        }
    }
}

/// A state with its reason (`virDomain*Reason`, a number whose meaning depends
/// on the state, e.g. shut off + `VIR_DOMAIN_SHUTOFF_SAVED`).
public struct DomainStateInfo: Sendable, Hashable {
    public let state: DomainState
    public let reason: Int32
}

extension DomainStateInfo {
    /// Shut off because the guest shut itself down (`VIR_DOMAIN_SHUTOFF_SHUTDOWN`),
    /// as after an ACPI power button press it obeyed; not destroyed, crashed or saved.
    public var isShutOffByGuest: Bool {
        state == .shutOff && reason == cInt(VIR_DOMAIN_SHUTOFF_SHUTDOWN)
    }
}
