import Foundation
import GRDB
import GenerationStore
import VMGenID

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
        migrator.registerMigration("v2") { db in
            try db.execute(sql: v2)
        }
        migrator.registerMigration("v3") { db in
            try db.execute(sql: v3)
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

    // Typed roles and identities that survive renames. genid before v2
    // encoded the role as a "persistent." or "live." prefix of the event;
    // the prefix becomes the role. Rows from then have no UUID and match
    // their VM by name (`VMIdentity.isSameVM`).
    private static let v2 = """
        ALTER TABLE generation ADD COLUMN role TEXT NOT NULL DEFAULT 'live'
            CHECK (role IN ('live', 'persistent'));
        ALTER TABLE generation ADD COLUMN vm_uuid TEXT;
        UPDATE generation SET role = 'persistent', event = substr(event, 12)
            WHERE event LIKE 'persistent._%';
        UPDATE generation SET event = substr(event, 6) WHERE event LIKE 'live._%';
        CREATE INDEX generation_by_uuid ON generation (vm_uuid, id);
        """

    // The host that wrote each record; NULL for records from before.
    private static let v3 = """
        ALTER TABLE generation ADD COLUMN host TEXT;
        """
}

extension GenerationRecord {
    /// Column list matching `init(row:)`.
    static let columns = "id, vm, vm_uuid, host, value, role, event, detail, origin, created_at"

    init(row: Row) throws {
        let originText: String = try row.decode(forColumn: "origin")
        let roleText: String = try row.decode(forColumn: "role")
        let valueText: String = try row.decode(forColumn: "value")
        guard let origin = Origin(rawValue: originText), let role = GenerationRole(rawValue: roleText),
              let value = GenerationID(valueText) else {
            throw StoreError.unavailable("ledger row has an unreadable origin, role or value: "
                + "'\(originText)', '\(roleText)', '\(valueText)'")
        }
        self.init(
            id: try row.decode(forColumn: "id"),
            vm: VMIdentity(name: try row.decode(forColumn: "vm"), uuid: try row.decode(forColumn: "vm_uuid")),
            host: try row.decode(forColumn: "host"),
            value: value,
            role: role,
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
