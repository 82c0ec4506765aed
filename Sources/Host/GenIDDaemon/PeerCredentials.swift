import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Who is on the other end of a UNIX socket, from the kernel (SO_PEERCRED),
/// plus the supplementary groups of that process.
struct PeerCredentials: Sendable, Equatable {
    var pid: Int32
    var uid: UInt32
    var gid: UInt32
    var groups: [UInt32]

    static func of(socket fd: Int32) -> PeerCredentials? {
        var credentials = KernelPeerCredentials()
        var length = socklen_t(MemoryLayout<KernelPeerCredentials>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 else { return nil }
        return PeerCredentials(pid: credentials.pid, uid: credentials.uid, gid: credentials.gid,
                               groups: supplementaryGroups(pid: credentials.pid))
    }

    /// "Groups:" of /proc/PID/status; empty if the process is gone.
    static func supplementaryGroups(pid: Int32) -> [UInt32] {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Groups:") }) else { return [] }
        return line.dropFirst("Groups:".count).split(separator: " ").compactMap { UInt32($0.trimmingCharacters(in: .whitespaces)) }
    }
}

/// Who may use the control socket: root, and members of the control group.
/// (The socket file's mode says the same; this check holds even if someone
/// loosens the mode or passes a connected descriptor on.)
struct ControlAccess: Sendable {
    var controlGroupID: UInt32?

    func allows(_ peer: PeerCredentials) -> Bool {
        if peer.uid == 0 { return true }
        guard let group = controlGroupID else { return false }
        return peer.gid == group || peer.groups.contains(group)
    }
}

/// Linux's `struct ucred` (Glibc hides it behind _GNU_SOURCE): pid, uid, gid.
private struct KernelPeerCredentials {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}
