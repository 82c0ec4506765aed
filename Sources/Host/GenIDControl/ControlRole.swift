/// Who may ask what on genidd's control socket. Root holds the operator
/// role; so do members of `controlGroup`; members of `readOnlyGroup` only
/// read. A reader cannot change any guest's value, nor make genidd touch
/// a domain.
public enum ControlRole: String, Sendable, Comparable, CaseIterable {
    /// `status`, `history`, `wait-ready`: nothing changes.
    case reader
    /// Everything: `rotate`, `revert`, `reconcile`, `notify` too.
    case `operator`

    public static func < (lhs: ControlRole, rhs: ControlRole) -> Bool {
        lhs == .reader && rhs == .operator
    }
}

extension ControlRequest.Command {
    /// The role a peer needs for this command.
    public var requiredRole: ControlRole {
        switch self {
        case .status, .history, .waitReady: .reader
        case .rotate, .revert, .reconcile, .notify: .operator
        }
    }
}
