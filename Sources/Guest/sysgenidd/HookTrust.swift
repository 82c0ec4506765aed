#if canImport(Glibc)
import Glibc
#endif

/// Hooks run as root, so only root may have chosen what runs: the hooks
/// directory and every hook must be owned by root and writable by nobody
/// else. Anything else would let the owner, or any member of the group,
/// run code as root at the next generation.
enum HookTrust {
    /// Why `path` (the hooks directory or a hook; symbolic links followed,
    /// as exec would) must not be trusted, in words; nil if it may be.
    static func problem(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return "cannot stat it (\(String(cString: strerror(errno))))" }
        if info.st_uid != 0 { return "owned by uid \(info.st_uid), not root" }
        let writable = info.st_mode & (S_IWGRP | S_IWOTH)
        if writable != 0 {
            let who = writable == S_IWGRP ? "group" : writable == S_IWOTH ? "world" : "group- and world"
            return "\(who)-writable (mode \(String(info.st_mode & 0o7777, radix: 8)))"
        }
        return nil
    }
}
