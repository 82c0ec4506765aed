/// Why genidd could not do something, in words an operator can act on.
public enum DaemonError: Error, Sendable, CustomStringConvertible {
    case configuration(String)
    case controlSocket(String)
    case unknownDomain(String)
    case notRunning(domain: String)
    case noGenID(domain: String)
    case guestMemory(domain: String, reason: String)
    case readiness(domain: String, reason: String)
    case libvirtUnavailable(String)
    case jobInProgress(domain: String)

    public var description: String {
        switch self {
        case .configuration(let message): "configuration: \(message)"
        case .controlSocket(let message): "control socket: \(message)"
        case .unknownDomain(let name): "no domain named '\(name)' (genidd sees the domains of its libvirt connection)"
        case .notRunning(let domain): "domain '\(domain)' is not running"
        case .noGenID(let domain):
            "domain '\(domain)' has no <genid> element, so its guest has no VMGENID device; "
                + "run `genidctl libvirt enable \(domain)` (effective at the next start)"
        case let .guestMemory(domain, reason): "guest memory of domain '\(domain)': \(reason)"
        case let .readiness(domain, reason): "domain '\(domain)' is not ready: \(reason)"
        case .libvirtUnavailable(let message): "libvirt: \(message)"
        case .jobInProgress(let domain):
            "libvirt runs a job on domain '\(domain)' (a migration, a save or a snapshot); "
                + "the guest keeps its value: try again once the job has ended"
        }
    }
}
