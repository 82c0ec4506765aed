import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the ledger lives when the caller does not say, and making sure its
/// directory exists.
enum LedgerLocation {
    /// `$GENID_LEDGER` if set; else the system ledger for root (genidd, or
    /// genidctl run by root, must share one file); else the per-user XDG
    /// state directory, so an unprivileged user never needs /var/lib.
    static func defaultPath(environment: [String: String], isRoot: Bool, home: String) -> String {
        if let explicit = environment["GENID_LEDGER"], !explicit.isEmpty {
            return explicit
        }
        if isRoot {
            return "/var/lib/genid/ledger.sqlite"
        }
        // XDG base directory spec: relative values must be ignored.
        if let state = environment["XDG_STATE_HOME"], state.hasPrefix("/") {
            return join(state, "genid/ledger.sqlite")
        }
        return join(home, ".local/state/genid/ledger.sqlite")
    }

    /// Creates the directory holding `path` (and missing ancestors) with mode
    /// 0700 if it does not exist: the ledger is private to its owner.
    /// Existing directories are left as they are.
    static func ensureParentDirectory(of path: String) throws {
        if path == ":memory:" || path.isEmpty { return }
        let directory = (path as NSString).deletingLastPathComponent
        if directory.isEmpty { return }  // relative file name: current directory
        try ensureDirectory(directory)
    }

    private static func ensureDirectory(_ directory: String) throws {
        var info = stat()
        if stat(directory, &info) == 0 {
            if (info.st_mode & S_IFMT) == S_IFDIR { return }
            throw LedgerError.cannotCreateDirectory(path: directory, reason: "it exists and is not a directory")
        }
        let statErrno = errno
        // ENOTDIR: some ancestor is not a directory; walking up names it.
        guard statErrno == ENOENT || statErrno == ENOTDIR else {
            throw LedgerError.cannotCreateDirectory(path: directory, reason: describe(statErrno))
        }
        let parent = (directory as NSString).deletingLastPathComponent
        if !parent.isEmpty, parent != directory {
            try ensureDirectory(parent)
        }
        if mkdir(directory, 0o700) != 0 {
            let mkdirErrno = errno
            // Another process may have created it in the meantime: fine.
            if mkdirErrno == EEXIST, stat(directory, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR { return }
            throw LedgerError.cannotCreateDirectory(path: directory, reason: describe(mkdirErrno))
        }
        // mkdir applies the umask; make the mode exactly 0700.
        _ = chmod(directory, 0o700)
    }

    private static func describe(_ code: Int32) -> String {
        String(cString: strerror(code))
    }

    private static func join(_ directory: String, _ relative: String) -> String {
        directory.hasSuffix("/") ? directory + relative : directory + "/" + relative
    }
}
