import CLibvirt

/// Why libvirt closed a connection (`virConnectCloseReason`).
public enum ConnectionCloseReason: Sendable, Hashable, CustomStringConvertible {
    case error
    case endOfFile
    case keepalive
    case client
    case unknown(Int32)

    init(raw: Int32) {
        switch raw {
        case Int32(truncatingIfNeeded: VIR_CONNECT_CLOSE_REASON_ERROR.rawValue): self = .error
        case Int32(truncatingIfNeeded: VIR_CONNECT_CLOSE_REASON_EOF.rawValue): self = .endOfFile
        case Int32(truncatingIfNeeded: VIR_CONNECT_CLOSE_REASON_KEEPALIVE.rawValue): self = .keepalive
        case Int32(truncatingIfNeeded: VIR_CONNECT_CLOSE_REASON_CLIENT.rawValue): self = .client
        default: self = .unknown(raw)
        }
    }

    public var description: String {
        switch self {
        case .error: return "I/O error on the connection"
        case .endOfFile: return "the daemon closed the connection (libvirtd stopped or restarted?)"
        case .keepalive: return "keepalive timeout: the daemon stopped answering"
        case .client: return "closed by the client"
        case .unknown(let raw): return "closed for reason \(raw)"
        }
    }
}
