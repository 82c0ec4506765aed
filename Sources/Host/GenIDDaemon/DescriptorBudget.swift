#if canImport(Glibc)
import Glibc
#endif

/// How many connections genidd's servers may hold, from its limit of open
/// descriptors. The servers must never be what runs genidd out of them:
/// with no descriptor left, libdispatch cannot look at its own threads
/// (/proc/self/task) and traps, killing genidd with every VM it guards. So
/// the two servers together take at most a quarter of the limit, and the
/// rest stays for libvirt, guest memory, agents and the ledger.
struct DescriptorBudget: Sendable, Equatable {
    /// The soft limit genidd runs with.
    let limit: Int

    /// Raises the soft limit to the hard one (a daemon's usual first step;
    /// systemd's `LimitNOFILE=` sets both) and returns the budget.
    static func raisingSoftLimit() -> DescriptorBudget {
        var limits = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limits) == 0 else { return DescriptorBudget(limit: 1024) }
        if limits.rlim_cur < limits.rlim_max {
            var raised = limits
            raised.rlim_cur = limits.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limits = raised }
        }
        return DescriptorBudget(limit: Int(clamping: limits.rlim_cur))
    }

    /// The control socket: 128 at once, or an eighth of the limit.
    var controlConnections: Int { max(4, min(128, limit / 8)) }
    /// Per uid on the control socket (root counts only against the total).
    var controlConnectionsPerUser: Int { max(1, min(16, controlConnections / 4)) }
    /// The metrics endpoint: 64 at once, or a sixteenth of the limit.
    var metricsConnections: Int { max(2, min(64, limit / 16)) }
}
