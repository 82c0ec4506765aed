import Foundation
import GRDB
import GenerationStore
import VMGenID

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The ledger in one SQLite file: the embedded store for one host.
///
/// Several processes (each `genidctl` command, `genidd`) may open the same
/// file at once: the file is in WAL mode, waits up to 10 s for another
/// process's lock, and every multi-statement operation is one IMMEDIATE
/// transaction. The `UNIQUE` constraint on `generation.value` is what
/// guarantees a value is never given twice, whichever process races.
public final class SQLiteGenerationStore: GenerationStore {
    /// The SQLite file (":memory:" for `inMemory()`), for messages and `genidctl`.
    public let path: String
    public var location: String { path }
    /// The host named in every record this store writes.
    public let host: String
    /// How long to wait for another process's write lock before failing.
    static let busyTimeout: TimeInterval = 10

    let writer: any DatabaseWriter

    /// Opens (creating if needed) the ledger at `path` and brings its schema up
    /// to date. A missing parent directory is created with mode 0700 (the
    /// ledger is private to its owner); if that is impossible, throws
    /// `StoreError.unavailable` naming the directory.
    public convenience init(path: String, host: String = HostName.current) throws {
        try LedgerDirectory.ensureParentDirectory(of: path)
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
        try self.init(writer: pool, path: path, host: host)
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
    public static func inMemory(host: String = HostName.current) throws -> SQLiteGenerationStore {
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(configuration: configuration)
        } catch {
            throw translate(error, path: ":memory:", action: "opening")
        }
        return try SQLiteGenerationStore(writer: queue, path: ":memory:", host: host)
    }

    private init(writer: any DatabaseWriter, path: String, host: String) throws {
        self.writer = writer
        self.path = path
        self.host = host
        try migrate()
    }

    private static var configuration: Configuration {
        var configuration = Configuration()
        configuration.busyMode = .timeout(busyTimeout)
        configuration.label = "SQLiteGenerationStore"
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
        let superseded: Bool
        do {
            superseded = try writer.read { db in try migrator.hasBeenSuperseded(db) }
        } catch {
            throw Self.translate(error, path: path, action: "reading the schema version")
        }
        if superseded {
            throw StoreError.unavailable(
                "ledger \(path) was written by a newer genid (unknown schema migrations); "
                    + "use that genid version, or set GENID_LEDGER to another ledger")
        }
    }

    // MARK: - Values

    @discardableResult
    public func record(_ value: GenerationID, for vm: VMIdentity, role: GenerationRole, event: String, detail: String?,
                       origin: GenerationRecord.Origin) async throws -> GenerationRecord {
        try StoreArguments.requireNonEmpty(vm.name, "vm")
        try StoreArguments.requireNonEmpty(event, "event")
        let text = value.description
        let host = host
        return try await transaction("recording \(text) for VM '\(vm.name)'") { db in
            do {
                try db.execute(
                    sql: """
                        INSERT INTO generation (vm, vm_uuid, host, value, role, event, detail, origin)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [vm.name, vm.uuid, host, text, role.rawValue, event, detail, origin.rawValue])
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
                // The constraint, not a prior lookup, is the guarantee: whoever
                // races us, only one insert of a value can succeed.
                guard let owner = try Self.fetchRecord(db, value: text) else { throw error }
                throw StoreError.valueAlreadyRecorded(owner)
            }
            return try Self.fetchOne(db, GenerationRecord.init(row:),
                                     sql: "SELECT \(GenerationRecord.columns) FROM generation WHERE id = ?")
        }
    }

    @discardableResult
    public func move(_ value: GenerationID, of vm: VMIdentity) async throws -> GenerationRecord {
        let text = value.description
        let host = host
        return try await transaction("moving \(text) of VM '\(vm.name)' to \(host)") { db in
            guard let record = try Self.fetchRecord(db, value: text), record.vm.isSameVM(as: vm) else {
                throw StoreError.notRecorded(value, vm: vm.name)
            }
            try db.execute(sql: "UPDATE generation SET host = ? WHERE id = ?", arguments: [host, record.id])
            try db.execute(sql: "INSERT INTO audit (vm, kind, message) VALUES (?, 'moved', ?)", arguments: [
                vm.name, "\(text) moved with the VM from \(record.host ?? "an unnamed host") to \(host)",
            ])
            var moved = record
            moved.host = host
            return moved
        }
    }

    /// Three indexed look-ups in the same file: no round trip to save.
    public func view(of values: [GenerationID], for vm: VMIdentity) async throws -> LedgerView {
        try await viewByLookups(of: values, for: vm)
    }

    public func owner(of value: GenerationID) async throws -> GenerationRecord? {
        let text = value.description
        return try await perform("looking up \(text)") { db in try Self.fetchRecord(db, value: text) }
    }

    public func latest(of vm: VMIdentity, role: GenerationRole) async throws -> GenerationRecord? {
        let (filter, arguments) = Self.sameVM(vm)
        return try await perform("reading the latest value of \(vm.name)") { db in
            // Cached statements: every reconciliation asks this of every domain.
            try Row.fetchOne(db.cachedStatement(sql: """
                SELECT \(GenerationRecord.columns) FROM generation WHERE role = ? AND \(filter) ORDER BY id DESC LIMIT 1
                """), arguments: StatementArguments([role.rawValue] + arguments)).map(GenerationRecord.init(row:))
        }
    }

    public func history(vm: String?, limit: Int?, before: Int64?) async throws -> [GenerationRecord] {
        var conditions = vm.map { [SQLCondition("(vm = ? OR vm_uuid = ?)", [$0, $0.lowercased()])] } ?? []
        if let before { conditions.append(SQLCondition("id < ?", [before])) }
        return try await newest(table: "generation", columns: GenerationRecord.columns, where: conditions,
                                limit: limit, decode: GenerationRecord.init(row:))
    }

    public func duplicateValues() async throws -> [GenerationID] {
        try await perform("checking for duplicate values") { db in
            try String.fetchAll(db, sql: """
                SELECT lower(value) FROM generation
                GROUP BY lower(value) HAVING COUNT(*) > 1 ORDER BY 1
                """).compactMap(GenerationID.init)
        }
    }

    // MARK: - Audit trail

    public func audit(_ vm: VMIdentity, kind: String, message: String) async throws {
        try StoreArguments.requireNonEmpty(vm.name, "vm")
        try StoreArguments.requireNonEmpty(kind, "kind")
        try await transaction("writing an audit entry for VM '\(vm.name)'") { db in
            try db.execute(sql: "INSERT INTO audit (vm, kind, message) VALUES (?, ?, ?)",
                           arguments: [vm.name, kind, message])
        }
    }

    public func auditTrail(vm: String?, limit: Int?) async throws -> [AuditRecord] {
        try await newest(table: "audit", columns: AuditRecord.columns,
                         where: vm.map { [SQLCondition("vm = ?", [$0])] } ?? [], limit: limit,
                         decode: AuditRecord.init(row:))
    }

    // MARK: - Plumbing

    /// SQL for "the same VM as `vm`" (`VMIdentity.isSameVM`).
    private static func sameVM(_ vm: VMIdentity) -> (String, [String]) {
        guard let uuid = vm.uuid else { return ("vm = ?", [vm.name]) }
        return ("(vm_uuid = ? OR (vm_uuid IS NULL AND vm = ?))", [uuid, vm.name])
    }

    private static func fetchRecord(_ db: Database, value: String) throws -> GenerationRecord? {
        try Row.fetchOne(
            db.cachedStatement(sql: "SELECT \(GenerationRecord.columns) FROM generation WHERE value = ?"),
            arguments: [value]
        ).map(GenerationRecord.init(row:))
    }

    private static func fetchOne<T>(_ db: Database, _ decode: (Row) throws -> T, sql: String) throws -> T {
        guard let row = try Row.fetchOne(db, sql: sql, arguments: [db.lastInsertedRowID]) else {
            throw StoreError.unavailable("ledger: the row just inserted vanished")
        }
        return try decode(row)
    }

    /// The newest `limit` rows of `table` (all if nil), optionally filtered, oldest first.
    private func newest<T: Sendable>(
        table: String, columns: String, where conditions: [SQLCondition], limit: Int?,
        decode: @escaping @Sendable (Row) throws -> T
    ) async throws -> [T] {
        try StoreArguments.requireValidLimit(limit)
        var values = conditions.flatMap(\.arguments)
        values.append(limit ?? -1)  // SQLite: a negative LIMIT means no limit
        let arguments = StatementArguments(values)
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.map(\.sql).joined(separator: " AND ")
        let sql = """
            SELECT * FROM (SELECT \(columns) FROM \(table) \(filter) ORDER BY id DESC LIMIT ?)
            ORDER BY id
            """
        return try await perform("reading \(table)") { db in
            try Row.fetchAll(db, sql: sql, arguments: arguments).map(decode)
        }
    }

    /// Runs `body` as one IMMEDIATE transaction: the write lock is taken up
    /// front (waiting for other processes), so nothing interleaves with it.
    @discardableResult
    private func transaction<T: Sendable>(_ action: String,
                                          _ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await writer.writeWithoutTransaction { db in
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

    private func perform<T: Sendable>(_ action: String,
                                      _ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await writer.read(body)
        } catch {
            throw Self.translate(error, path: path, action: action)
        }
    }

    /// Turns any error into a `StoreError` naming the file, what was being
    /// done, and what a person can do about it.
    static func translate(_ error: any Error, path: String, action: String) -> StoreError {
        if let error = error as? StoreError { return error }
        guard let error = error as? DatabaseError else {
            return .unavailable("ledger \(path): \(action) failed: \(error)")
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
        return .unavailable("ledger \(path): \(action) failed: \(message) (\(hint))")
    }
}

/// One condition of a WHERE clause and the values of its placeholders.
private struct SQLCondition {
    let sql: String
    let arguments: [(any DatabaseValueConvertible)?]

    init(_ sql: String, _ arguments: [(any DatabaseValueConvertible)?]) {
        self.sql = sql
        self.arguments = arguments
    }
}
