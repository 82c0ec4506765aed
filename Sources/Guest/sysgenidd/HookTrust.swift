#if canImport(Glibc)
import Glibc
#endif

/// Hooks run as root, so only root may have chosen what runs. The path to
/// a hook is walked from `/` one component at a time with `lstat`, and
/// every step must be root's:
///
/// - every directory on the way (the hooks directory's ancestors, and those
///   of a symbolic link's target) is owned by root and not writable by
///   group or others, unless it has the sticky bit (like /tmp): then only
///   root may rename or remove the root-owned entry that is walked through;
/// - the hooks directory itself is owned by root and not writable by group
///   or others, sticky or not (anyone who may add an entry may add a hook);
/// - a symbolic link (the hooks directory, a hook, or any step) is owned
///   by root and is followed, its target walked the same way; the hook
///   that runs is the resolved file, so the path cannot change between
///   this check and exec;
/// - the hook itself is a file owned by root and not writable by group or
///   others.
///
/// The check runs again immediately before each hook is spawned.
enum HookTrust {
    /// Why `path` (the hooks directory if `directory`, else a hook) must not
    /// be trusted, in words; nil if it may be.
    static func problem(_ path: String, directory: Bool = false) -> String? {
        if case .untrusted(let problem) = resolve(path, directory: directory) { return problem }
        return nil
    }

    enum Resolution: Equatable {
        /// The path to exec: no symbolic link in it, every step root's.
        case trusted(String)
        /// Why not, in words.
        case untrusted(String)
    }

    /// The path with every symbolic link resolved, each step checked; or
    /// why not. A problem with `path` itself is said alone, one with
    /// another step of the walk after the name of that step.
    static func resolve(_ path: String, directory: Bool) -> Resolution {
        var pending = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        if !path.hasPrefix("/") {
            guard let cwd = getcwd(nil, 0) else { return .untrusted("cannot resolve it (no working directory)") }
            defer { free(cwd) }
            pending = String(cString: cwd).split(separator: "/").map(String.init) + pending
        }
        var resolved: [String] = []
        var links = 0
        if let problem = check("/", last: false, directory: true) { return .untrusted("/: \(problem)") }
        while !pending.isEmpty {
            let name = pending.removeFirst()
            if name == "." { continue }
            if name == ".." {
                // The prefix holds no symbolic link: lexical is right.
                if !resolved.isEmpty { resolved.removeLast() }
                continue
            }
            let current = "/" + (resolved + [name]).joined(separator: "/")
            let last = pending.allSatisfy { $0 == "." }
            func failure(_ problem: String) -> Resolution {
                .untrusted(current == path ? problem : "\(current): \(problem)")
            }
            var info = stat()
            guard lstat(current, &info) == 0 else { return failure("cannot stat it (\(String(cString: strerror(errno))))") }
            if info.st_mode & S_IFMT == S_IFLNK {
                if info.st_uid != 0 { return failure("a symbolic link owned by uid \(info.st_uid), not root") }
                links += 1
                guard links <= 40, let target = readLink(current) else { return failure("cannot follow the symbolic link") }
                if target.hasPrefix("/") { resolved = [] }
                pending = target.split(separator: "/").map(String.init) + pending
                continue
            }
            if let problem = check(info, last: last, directory: directory) { return failure(problem) }
            resolved.append(name)
        }
        return .trusted("/" + resolved.joined(separator: "/"))
    }

    private static func check(_ path: String, last: Bool, directory: Bool) -> String? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return "cannot stat it (\(String(cString: strerror(errno))))" }
        return check(info, last: last, directory: directory)
    }

    private static func check(_ info: stat, last: Bool, directory: Bool) -> String? {
        let kind = info.st_mode & S_IFMT
        if !last && kind != S_IFDIR { return "not a directory" }
        if last && directory && kind != S_IFDIR { return "not a directory" }
        if last && !directory && kind != S_IFREG { return "not a regular file" }
        if info.st_uid != 0 { return "owned by uid \(info.st_uid), not root" }
        let writable = info.st_mode & (S_IWGRP | S_IWOTH)
        // A sticky directory on the way: its root-owned entry stays put.
        if writable != 0 && (last || info.st_mode & S_ISVTX == 0) {
            let who = writable == S_IWGRP ? "group" : writable == S_IWOTH ? "world" : "group- and world"
            return "\(who)-writable (mode \(String(info.st_mode & 0o7777, radix: 8)))"
        }
        return nil
    }

    private static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(path, &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
