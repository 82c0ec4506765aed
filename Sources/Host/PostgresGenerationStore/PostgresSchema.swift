import Logging
import PostgresNIO

/// The fleet ledger's tables, in their own `genid` schema. Created by the
/// first genid that connects; every later one checks the version.
///
/// `value uuid UNIQUE` is the guarantee that a value is given once across
/// the fleet: every host's genid inserts into the same table, and the
/// server lets one insert of a value succeed.
enum PostgresSchema {
    /// Raised whenever the tables change; a ledger of a newer version is refused.
    static let version = 1

    static let statements: [PostgresQuery] = [
        "CREATE SCHEMA IF NOT EXISTS genid",
        """
        CREATE TABLE IF NOT EXISTS genid.generation (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            vm text NOT NULL CHECK (vm <> ''),
            vm_uuid text,
            host text NOT NULL CHECK (host <> ''),
            value uuid NOT NULL UNIQUE,
            role text NOT NULL CHECK (role IN ('live', 'persistent')),
            event text NOT NULL CHECK (event <> ''),
            detail text,
            origin text NOT NULL CHECK (origin IN ('issued', 'observed')),
            created_at timestamptz NOT NULL DEFAULT clock_timestamp()
        )
        """,
        "CREATE INDEX IF NOT EXISTS generation_by_vm ON genid.generation (vm, id)",
        "CREATE INDEX IF NOT EXISTS generation_by_uuid ON genid.generation (vm_uuid, id)",
        """
        CREATE TABLE IF NOT EXISTS genid.audit (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            vm text NOT NULL CHECK (vm <> ''),
            host text NOT NULL,
            kind text NOT NULL CHECK (kind <> ''),
            message text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT clock_timestamp()
        )
        """,
        "CREATE INDEX IF NOT EXISTS audit_by_vm ON genid.audit (vm, id)",
        "CREATE TABLE IF NOT EXISTS genid.schema_version (version integer NOT NULL)",
    ]

    /// Creates the tables if they are missing, or checks their version, as
    /// one transaction under an advisory lock: hosts connecting at once
    /// neither race the `CREATE`s nor see half a schema.
    static func prepare(_ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("BEGIN", logger: logger)
        do {
            try await connection.query("SELECT pg_advisory_xact_lock(hashtext('genid.schema'))", logger: logger)
            for statement in statements {
                try await connection.query(statement, logger: logger)
            }
            var found: Int32?
            for try await version in try await connection.query(
                "SELECT max(version) FROM genid.schema_version", logger: logger
            ).decode(Int32?.self) {
                found = version
            }
            if let found, found > version {
                throw NewerSchema(found: Int(found))
            }
            if found == nil {
                try await connection.query("INSERT INTO genid.schema_version VALUES (\(Int32(version)))", logger: logger)
            }
            try await connection.query("COMMIT", logger: logger)
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
    }

    struct NewerSchema: Error {
        let found: Int
    }
}
