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
