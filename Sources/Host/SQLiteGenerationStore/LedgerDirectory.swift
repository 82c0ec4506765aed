import Foundation
import GenerationStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Makes sure the directory of a ledger file exists, private to its owner.
enum LedgerDirectory {
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
            throw cannotCreate(directory, reason: "it exists and is not a directory")
        }
        let statErrno = errno
        // ENOTDIR: some ancestor is not a directory; walking up names it.
        guard statErrno == ENOENT || statErrno == ENOTDIR else {
            throw cannotCreate(directory, reason: describe(statErrno))
        }
        let parent = (directory as NSString).deletingLastPathComponent
        if !parent.isEmpty, parent != directory {
            try ensureDirectory(parent)
        }
        if mkdir(directory, 0o700) != 0 {
            let mkdirErrno = errno
            // Another process may have created it in the meantime: fine.
            if mkdirErrno == EEXIST, stat(directory, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR { return }
            throw cannotCreate(directory, reason: describe(mkdirErrno))
        }
        // mkdir applies the umask; make the mode exactly 0700.
        _ = chmod(directory, 0o700)
    }

    private static func cannotCreate(_ directory: String, reason: String) -> StoreError {
        .unavailable("cannot create the ledger directory \(directory): \(reason); "
            + "create it, or set GENID_LEDGER to a ledger file in a writable directory")
    }

    private static func describe(_ code: Int32) -> String {
        String(cString: strerror(code))
    }

}
