import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the ledger is when the caller does not say. A location is a file
/// path today (SQLite, one host); `$GENID_LEDGER` may name any location.
public enum LedgerLocation {
    /// `$GENID_LEDGER` if set; else `/var/lib/genid/ledger.sqlite` when running
    /// as root (genidd and root's genidctl share it); else
    /// `$XDG_STATE_HOME/genid/ledger.sqlite` or `~/.local/state/genid/ledger.sqlite`.
    public static var `default`: String {
        let environment = ProcessInfo.processInfo.environment
        return defaultLocation(environment: environment, isRoot: geteuid() == 0,
                               home: environment["HOME"] ?? NSHomeDirectory())
    }

    /// `$GENID_LEDGER` if set; else the system ledger for root (genidd, or
    /// genidctl run by root, must share one file); else the per-user XDG
    /// state directory, so an unprivileged user never needs /var/lib.
    static func defaultLocation(environment: [String: String], isRoot: Bool, home: String) -> String {
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

    private static func join(_ directory: String, _ relative: String) -> String {
        directory.hasSuffix("/") ? directory + relative : directory + "/" + relative
    }
}
