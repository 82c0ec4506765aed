import GenerationStore
import PostgresGenerationStore
import SQLiteGenerationStore

/// Opens the ledger `location` names: a `postgres://` (or `postgresql://`)
/// URL is a fleet ledger every host shares; anything else is the path of a
/// one-host SQLite file. genidd, genidctl and `$GENID_LEDGER` all take either.
public func openLedger(at location: String) throws -> any GenerationStore {
    if PostgresLocation.names(location) {
        return try PostgresGenerationStore(url: location)
    }
    return try SQLiteGenerationStore(path: location)
}

/// Where the ledger `location` exposes a secret (a password in the URL, a
/// password file others may read), found without opening anything:
/// `genidd --check-config` creates no file and connects nowhere.
public func exposureWarnings(ofLedger location: String) throws -> [String] {
    PostgresLocation.names(location) ? try PostgresLocation(location).warnings : []
}
