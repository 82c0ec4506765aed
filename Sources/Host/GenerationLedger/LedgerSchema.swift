import Foundation
import GRDB

/// The ledger's tables, their migrations, and how rows become records.
///
/// Migrations are append-only: a shipped migration is never edited, since
/// ledgers written by older genid versions must keep opening.
enum LedgerSchema {
    /// Every migration, in order ("v1", "v2", ...).
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: v1)
        }
        return migrator
    }

    /// GLOB pattern of a lower-case RFC 4122 text value (8-4-4-4-12 hex digits).
    /// Enforced by the database too, so that nothing (not even the sqlite3
    /// CLI) can slip an upper-case twin past the UNIQUE constraint.
    static let valueGlob: String = {
        let hex = "[0-9a-f]"
        return [8, 4, 4, 4, 12]
            .map { String(repeating: hex, count: $0) }
            .joined(separator: "-")
    }()

    /// SQLite expression producing the timestamp format GRDB reads as a UTC `Date`.
    static let now = "strftime('%Y-%m-%d %H:%M:%f', 'now')"

    // `value ... UNIQUE` is the guarantee that a value is never given twice,
    // across all VMs and all processes sharing the file. AUTOINCREMENT keeps
    // ids from ever being reused, so they order the history.
    private static let v1 = """
        CREATE TABLE generation (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            vm TEXT NOT NULL CHECK (vm <> ''),
            value TEXT NOT NULL UNIQUE CHECK (value GLOB '\(valueGlob)'),
            event TEXT NOT NULL CHECK (event <> ''),
            detail TEXT,
            origin TEXT NOT NULL CHECK (origin IN ('issued', 'observed')),
            created_at DATETIME NOT NULL DEFAULT (\(now))
        );
        CREATE INDEX generation_by_vm ON generation (vm, id);
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            vm TEXT NOT NULL CHECK (vm <> ''),
            kind TEXT NOT NULL CHECK (kind <> ''),
            message TEXT NOT NULL,
            created_at DATETIME NOT NULL DEFAULT (\(now))
        );
        CREATE INDEX audit_by_vm ON audit (vm, id);
        """
}

extension GenerationRecord {
    /// Column list matching `init(row:)`.
    static let columns = "id, vm, value, event, detail, origin, created_at"

    init(row: Row) throws {
        let originText = try row.decode(String.self, forColumn: "origin")
        guard let origin = Origin(rawValue: originText) else {
            throw LedgerError.database("ledger row has an unknown origin '\(originText)'")
        }
        self.init(
            id: try row.decode(forColumn: "id"),
            vm: try row.decode(forColumn: "vm"),
            value: try row.decode(forColumn: "value"),
            event: try row.decode(forColumn: "event"),
            detail: try row.decode(forColumn: "detail"),
            origin: origin,
            createdAt: try row.decode(forColumn: "created_at"))
    }
}

extension AuditRecord {
    /// Column list matching `init(row:)`.
    static let columns = "id, vm, kind, message, created_at"

    init(row: Row) throws {
        self.init(
            id: try row.decode(forColumn: "id"),
            vm: try row.decode(forColumn: "vm"),
            kind: try row.decode(forColumn: "kind"),
            message: try row.decode(forColumn: "message"),
            createdAt: try row.decode(forColumn: "created_at"))
    }
}
