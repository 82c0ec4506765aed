#if canImport(Glibc)
import Glibc
#endif
import GenIDControl

/// Who is on the other end of a UNIX socket, as the kernel recorded it at
/// `connect()` (SO_PEERCRED and SO_PEERGROUPS): nothing the peer does
/// afterwards (exec a setuid program, exit and let its pid be reused) can
/// change the answer.
struct PeerCredentials: Sendable, Equatable {
    var pid: Int32
    var uid: UInt32
    var gid: UInt32
    var groups: [UInt32]

    static func of(socket fd: Int32) -> PeerCredentials? {
        var credentials = KernelPeerCredentials()
        var length = socklen_t(MemoryLayout<KernelPeerCredentials>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0,
              let groups = supplementaryGroups(socket: fd) else { return nil }
        return PeerCredentials(pid: credentials.pid, uid: credentials.uid, gid: credentials.gid, groups: groups)
    }

    /// SO_PEERGROUPS (Linux 4.13): the peer's supplementary groups at
    /// connect. Asks again with the size the kernel names if they do not fit.
    private static func supplementaryGroups(socket fd: Int32) -> [UInt32]? {
        var groups = [gid_t](repeating: 0, count: 64)
        for _ in 0..<2 {
            var length = socklen_t(groups.count * MemoryLayout<gid_t>.size)
            if getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, &groups, &length) == 0 {
                return Array(groups.prefix(Int(length) / MemoryLayout<gid_t>.size))
            }
            guard errno == ERANGE, Int(length) / MemoryLayout<gid_t>.size > groups.count else { return nil }
            groups = [gid_t](repeating: 0, count: Int(length) / MemoryLayout<gid_t>.size)
        }
        return nil
    }

    func isMember(of group: UInt32) -> Bool {
        gid == group || groups.contains(group)
    }
}

/// Which role each peer holds: root and members of the control group are
/// operators, members of the read-only group readers, everyone else
/// nothing. (The socket file's mode says much the same; this check holds
/// even if someone loosens the mode or passes a connected descriptor on.)
struct ControlAccess: Sendable {
    var controlGroupID: UInt32?
    var readOnlyGroupID: UInt32?

    func role(of peer: PeerCredentials) -> ControlRole? {
        if peer.uid == 0 { return .operator }
        if let group = controlGroupID, peer.isMember(of: group) { return .operator }
        if let group = readOnlyGroupID, peer.isMember(of: group) { return .reader }
        return nil
    }

    /// The socket file's group and mode: one group can own the file; with
    /// two, every local user may connect and the kernel's credentials above
    /// decide (a refused peer is answered and closed at once).
    var socketFile: (group: UInt32?, mode: mode_t) {
        switch (controlGroupID, readOnlyGroupID) {
        case (nil, nil): (nil, 0o600)
        case (let group?, nil), (nil, let group?): (group, 0o660)
        case (_?, _?): (nil, 0o666)
        }
    }
}

/// Linux's `struct ucred` (Glibc hides it behind _GNU_SOURCE): pid, uid, gid.
private struct KernelPeerCredentials {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}
