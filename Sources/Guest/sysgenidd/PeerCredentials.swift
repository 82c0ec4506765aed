#if canImport(Glibc)
import Glibc
#endif

/// Who connected to the provider's socket, and whether they may TRIGGER,
/// decided once, when the connection is accepted; nothing about the
/// connection's owner is looked up later.
///
/// `SO_PEERCRED` is the kernel's copy of the credentials of the process that
/// called connect(), taken at that moment: it cannot be changed afterwards.
/// Capabilities are not in it, so TRIGGER needs both:
/// - euid 0 at connect (`SO_PEERCRED`): a process that was not root when it
///   connected never may, whatever it (or its parent, through a setuid
///   program) becomes later;
/// - `CAP_SYS_ADMIN` (21) or `CAP_CHECKPOINT_RESTORE` (40) in `CapEff` of
///   `/proc/<pid>/status`, read at accept, as the module's capable() check
///   (so uid 0 without them is refused too). A pidfd of the peer
///   (`SO_PEERPIDFD`) that still shows it alive after the read proves the
///   pid was not recycled; kernels before 6.5 have no `SO_PEERPIDFD`, and
///   there the pid is trusted for the microseconds between connect and accept.
/// The module lets a non-root process holding one of the two capabilities
/// TRIGGER; the provider does not (Documentation/sysgenid-provider.md).
struct PeerCredentials {
    let pid: pid_t
    let uid: uid_t
    let mayTrigger: Bool

    static let capabilitySysAdmin: UInt64 = 1 << 21
    static let capabilityCheckpointRestore: UInt64 = 1 << 40
    private static let peerCredentialsOption: Int32 = 17 /* SO_PEERCRED */
    private static let peerPidfdOption: Int32 = 77 /* SO_PEERPIDFD, Linux 6.5 */

    /// The peer of the connected socket `fd`; nil if the kernel does not say.
    init?(socket fd: Int32) {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; }: the effective ids.
        var credentials: (Int32, UInt32, UInt32) = (0, .max, .max)
        var length = socklen_t(MemoryLayout.size(ofValue: credentials))
        guard getsockopt(fd, SOL_SOCKET, PeerCredentials.peerCredentialsOption, &credentials, &length) == 0 else {
            return nil
        }
        pid = credentials.0
        uid = credentials.1
        // pid 0: a connector in a pid namespace this one cannot see; it may
        // use the provider, but there is no /proc entry to check for TRIGGER.
        mayTrigger = uid == 0 && pid > 0 && PeerCredentials.hasTriggerCapability(socket: fd, pid: pid)
    }

    private static func hasTriggerCapability(socket fd: Int32, pid: pid_t) -> Bool {
        var pidfd: Int32 = -1
        var length = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd, SOL_SOCKET, peerPidfdOption, &pidfd, &length) != 0 { pidfd = -1 }
        defer { if pidfd >= 0 { close(pidfd) } }
        guard let mask = effectiveCapabilities(pid: pid) else { return false }
        if pidfd >= 0 {
            // A pidfd polls readable once its process has ended: still
            // unreadable after the read means /proc/<pid> was that process.
            var descriptor = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 0) == 0 else { return false }
        }
        return mask & (capabilitySysAdmin | capabilityCheckpointRestore) != 0
    }

    /// `CapEff` of /proc/<pid>/status; nil if unreadable or malformed.
    static func effectiveCapabilities(pid: pid_t) -> UInt64? {
        guard let status = try? readWholeFile("/proc/\(pid)/status", limit: 1 << 16) else { return nil }
        let text = String(decoding: status, as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }) else { return nil }
        return UInt64(line.dropFirst(7).trimmingCharacters(), radix: 16)
    }
}

extension Substring {
    func trimmingCharacters() -> Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return text
    }
}
