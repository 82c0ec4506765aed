import Foundation
import GRDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Every VM Generation ID ever given to (or seen in) every VM, unique across
/// all VMs, with the event that caused it, plus an audit trail.
///
/// Several processes (each `genidctl` command, `genidd`) may open the same
/// file at once: the file is in WAL mode, waits up to 10 s for another
/// process's lock, and every multi-statement operation is one IMMEDIATE
/// transaction. The `UNIQUE` constraint on `generation.value` is what
/// guarantees a value is never given twice, whichever process races.
public final class GenerationLedger: Sendable {
    /// The SQLite file (":memory:" for `inMemory()`), for messages and `genidctl`.
    public let path: String
    /// How many values `issueFresh` draws before giving up. A healthy random
    /// source never repeats a 122-bit value, so hitting this means it is broken.
    public static let defaultFreshAttempts = 16
    /// How long to wait for another process's write lock before failing.
    static let busyTimeout: TimeInterval = 10

    let writer: any DatabaseWriter

    /// `$GENID_LEDGER` if set; else `/var/lib/genid/ledger.sqlite` when running
    /// as root (the daemon and root's CLI share it); else
    /// `$XDG_STATE_HOME/genid/ledger.sqlite` or `~/.local/state/genid/ledger.sqlite`.
    public static var defaultPath: String {
        let environment = ProcessInfo.processInfo.environment
        return LedgerLocation.defaultPath(
            environment: environment,
            isRoot: geteuid() == 0,
            home: environment["HOME"] ?? NSHomeDirectory())
    }

    /// Opens (creating if needed) the ledger at `path` and brings its schema up
    /// to date. A missing parent directory is created with mode 0700 (the
    /// ledger is private to its owner); if that is impossible, throws
    /// `LedgerError.cannotCreateDirectory`.
    public convenience init(path: String) throws {
        try LedgerLocation.ensureParentDirectory(of: path)
        var attempt = 1
        let pool: DatabasePool
        while true {
            do {
                pool = try Self.openPool(path: path)
                break
            } catch let error as DatabaseError
                where (error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED) && attempt < 50 {
                // Switching a brand-new file to WAL answers BUSY at once, without
                // the busy handler, while another process does the same: wait a
                // little and try again (50 tries: a few seconds).
                attempt += 1
                usleep(UInt32.random(in: 20_000...100_000))
            } catch {
                throw Self.translate(error, path: path, action: "opening")
            }
        }
        try self.init(writer: pool, path: path)
    }

    private static func openPool(path: String) throws -> DatabasePool {
        let pool = try DatabasePool(path: path, configuration: configuration)
        // GRDB picks synchronous = NORMAL for WAL, which may lose the last
        // commits on power loss. A value must be on disk before it reaches
        // guest memory, so commits wait for fsync.
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        return pool
    }

    /// A private, empty ledger in memory, for tests and dry runs.
    public static func inMemory() throws -> GenerationLedger {
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(configuration: configuration)
        } catch {
            throw translate(error, path: ":memory:", action: "opening")
        }
        return try GenerationLedger(writer: queue, path: ":memory:")
    }

    private init(writer: any DatabaseWriter, path: String) throws {
        self.writer = writer
        self.path = path
        try migrate()
    }

    private static var configuration: Configuration {
        var configuration = Configuration()
        configuration.busyMode = .timeout(busyTimeout)
        configuration.label = "GenerationLedger"
        return configuration
    }

    /// Applies pending migrations. Two processes opening a new ledger at once
    /// may both see "v1" pending; the loser's migration fails and rolls back
    /// (the tables exist), and a retry finds it applied. A ledger migrated by a
    /// newer genid is refused rather than written with an older idea of it.
    private func migrate() throws {
        let migrator = LedgerSchema.migrator
        var attempt = 1
        while true {
            do {
                try migrator.migrate(writer)
                break
            } catch where attempt < 3 {
                attempt += 1
            } catch {
                throw Self.translate(error, path: path, action: "creating or upgrading the schema")
            }
        }
        let superseded = try perform("reading the schema version") { db in
            try migrator.hasBeenSuperseded(db)
        }
        if superseded {
            throw LedgerError.database(
                "ledger \(path) was written by a newer genid (unknown schema migrations); "
                    + "use that genid version, or set GENID_LEDGER to another ledger")
        }
    }

    // MARK: - Values

    /// Records a value genid is about to give (or gave, or saw in) a VM.
    /// Throws `valueAlreadyIssued` if the value is already in the ledger for
    /// ANY VM, including this one: a value is never given twice.
    @discardableResult
    public func record(
        vm: String, value: String, event: String, detail: String? = nil,
        origin: GenerationRecord.Origin = .issued
    ) throws -> GenerationRecord {
        let value = try GenerationValue.normalized(value)
        try Self.requireNonEmpty(vm, "vm")
        try Self.requireNonEmpty(event, "event")
        return try transaction("recording \(value) for VM '\(vm)'") { db in
            do {
                try db.execute(
                    sql: "INSERT INTO generation (vm, value, event, detail, origin) VALUES (?, ?, ?, ?, ?)",
                    arguments: [vm, value, event, detail, origin.rawValue])
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
                // The constraint, not a prior lookup, is the guarantee: whoever
                // races us, only one insert of a value can succeed.
                let owner = try Self.fetchRecord(db, value: value)
                throw LedgerError.valueAlreadyIssued(
                    value: value, ownerVM: owner?.vm ?? "(unknown)", event: owner?.event ?? "(unknown)")
            }
            let row = try Row.fetchOne(
                db, sql: "SELECT \(GenerationRecord.columns) FROM generation WHERE id = ?",
                arguments: [db.lastInsertedRowID])
            guard let row else { throw LedgerError.database("ledger \(self.path): inserted row vanished") }
            return try GenerationRecord(row: row)
        }
    }

    /// Draws a value with `generate` (again if it is already known, at most
    /// `attempts` times) and records it in its own transaction. The caller then
    /// writes the returned value into the VM, so a value is in the ledger BEFORE
    /// it reaches guest memory: a crash in between loses nothing, and the value
    /// is never reused. Throws `noFreshValue` if every drawn value was known.
    public func issueFresh(
        vm: String, event: String, detail: String? = nil,
        attempts: Int = GenerationLedger.defaultFreshAttempts,
        generate: () throws -> String
    ) throws -> GenerationRecord {
        try Self.requireNonEmpty(vm, "vm")
        try Self.requireNonEmpty(event, "event")
        guard attempts > 0 else { throw LedgerError.invalidArgument("attempts must be at least 1, got \(attempts)") }
        for _ in 0..<attempts {
            let candidate = try generate()
            do {
                return try record(vm: vm, value: candidate, event: event, detail: detail, origin: .issued)
            } catch LedgerError.valueAlreadyIssued {
                continue
            }
        }
        throw LedgerError.noFreshValue(vm: vm, attempts: attempts)
    }

    /// Who has this value (nil if it was never given): tells a clone from a revert.
    public func record(for value: String) throws -> GenerationRecord? {
        let value = try GenerationValue.normalized(value)
        return try perform("looking up \(value)") { db in try Self.fetchRecord(db, value: value) }
    }

    /// Whether the value was ever given to (or seen in) any VM.
    public func isKnown(_ value: String) throws -> Bool {
        try record(for: value) != nil
    }

    /// Values in the order they were recorded, for one VM or all. With `limit`,
    /// only the newest `limit` records, still oldest first.
    public func history(vm: String? = nil, limit: Int? = nil) throws -> [GenerationRecord] {
        try newest(table: "generation", columns: GenerationRecord.columns, vm: vm, limit: limit) {
            try GenerationRecord(row: $0)
        }
    }

    /// The value the VM should currently have (the last one recorded for it).
    public func latest(vm: String) throws -> GenerationRecord? {
        try history(vm: vm, limit: 1).first
    }

    /// Names of the VMs that have at least one value, sorted.
    public func vms() throws -> [String] {
        try perform("listing VMs") { db in
            try String.fetchAll(db, sql: "SELECT DISTINCT vm FROM generation ORDER BY vm")
        }
    }

    /// Values present more than once (compared case-insensitively). Always empty
    /// while the UNIQUE constraint holds; checked by tests and `genidctl history --check`.
    public func duplicateValues() throws -> [String] {
        try perform("checking for duplicate values") { db in
            try String.fetchAll(db, sql: """
                SELECT lower(value) FROM generation
                GROUP BY lower(value) HAVING COUNT(*) > 1 ORDER BY 1
                """)
        }
    }

    // MARK: - Audit trail

    /// Notes a check, failure or decision about a VM, so that the history of
    /// values can be explained later.
    @discardableResult
    public func audit(vm: String, kind: String, message: String) throws -> AuditRecord {
        try Self.requireNonEmpty(vm, "vm")
        try Self.requireNonEmpty(kind, "kind")
        return try transaction("writing an audit entry for VM '\(vm)'") { db in
            try db.execute(
                sql: "INSERT INTO audit (vm, kind, message) VALUES (?, ?, ?)",
                arguments: [vm, kind, message])
            let row = try Row.fetchOne(
                db, sql: "SELECT \(AuditRecord.columns) FROM audit WHERE id = ?",
                arguments: [db.lastInsertedRowID])
            guard let row else { throw LedgerError.database("ledger \(self.path): inserted row vanished") }
            return try AuditRecord(row: row)
        }
    }

    /// Audit entries in the order they were written, for one VM or all. With
    /// `limit`, only the newest `limit` entries, still oldest first.
    public func auditTrail(vm: String? = nil, limit: Int? = nil) throws -> [AuditRecord] {
        try newest(table: "audit", columns: AuditRecord.columns, vm: vm, limit: limit) {
            try AuditRecord(row: $0)
        }
    }

    // MARK: - Plumbing

    private static func fetchRecord(_ db: Database, value: String) throws -> GenerationRecord? {
        try Row.fetchOne(
            db, sql: "SELECT \(GenerationRecord.columns) FROM generation WHERE value = ?",
            arguments: [value]
        ).map(GenerationRecord.init(row:))
    }

    /// The newest `limit` rows of `table` (all if nil), optionally for one VM, oldest first.
    private func newest<T>(
        table: String, columns: String, vm: String?, limit: Int?, decode: (Row) throws -> T
    ) throws -> [T] {
        if let limit, limit < 0 {
            throw LedgerError.invalidArgument("limit must not be negative, got \(limit)")
        }
        var arguments = StatementArguments()
        var filter = ""
        if let vm {
            filter = "WHERE vm = ?"
            arguments += [vm]
        }
        arguments += [limit ?? -1]  // SQLite: a negative LIMIT means no limit
        let sql = """
            SELECT * FROM (SELECT \(columns) FROM \(table) \(filter) ORDER BY id DESC LIMIT ?)
            ORDER BY id
            """
        return try perform("reading \(table)") { db in
            try Row.fetchAll(db, sql: sql, arguments: arguments).map(decode)
        }
    }

    /// Runs `body` as one IMMEDIATE transaction: the write lock is taken up
    /// front (waiting for other processes), so nothing interleaves with it.
    private func transaction<T>(_ action: String, _ body: (Database) throws -> T) throws -> T {
        do {
            return try writer.writeWithoutTransaction { db in
                var result: T?
                try db.inTransaction(.immediate) {
                    result = try body(db)
                    return .commit
                }
                return result!
            }
        } catch {
            throw Self.translate(error, path: path, action: action)
        }
    }

    private func perform<T>(_ action: String, _ body: (Database) throws -> T) throws -> T {
        do {
            return try writer.read(body)
        } catch {
            throw Self.translate(error, path: path, action: action)
        }
    }

    private static func requireNonEmpty(_ text: String, _ field: String) throws {
        if text.isEmpty { throw LedgerError.invalidArgument("\(field) must not be empty") }
    }

    /// Turns any error into a `LedgerError` naming the file, what was being
    /// done, and what a person can do about it.
    static func translate(_ error: any Error, path: String, action: String) -> LedgerError {
        if let error = error as? LedgerError { return error }
        guard let error = error as? DatabaseError else {
            return .database("ledger \(path): \(action) failed: \(error)")
        }
        let hint: String
        switch error.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            hint = "another process held the ledger locked for more than \(Int(busyTimeout)) s; "
                + "retry, or look for a stuck genid process"
        case .SQLITE_READONLY, .SQLITE_PERM, .SQLITE_AUTH:
            hint = "no permission to write it; run as the ledger's owner (root for the system ledger) "
                + "or set GENID_LEDGER"
        case .SQLITE_CANTOPEN:
            hint = "cannot open the file; check that it is a writable file in a writable directory, "
                + "or set GENID_LEDGER"
        case .SQLITE_NOTADB:
            hint = "the file is not an SQLite database; move it aside or set GENID_LEDGER"
        case .SQLITE_CORRUPT:
            hint = "the file is damaged; keep a copy for analysis and restore the ledger from a backup"
        case .SQLITE_FULL:
            hint = "the disk is full; free space and retry"
        case .SQLITE_IOERR:
            hint = "an I/O error occurred; check the disk"
        default:
            hint = "SQLite error \(error.extendedResultCode.rawValue)"
        }
        let message = error.message ?? "\(error.resultCode)"
        return .database("ledger \(path): \(action) failed: \(message) (\(hint))")
    }
}
