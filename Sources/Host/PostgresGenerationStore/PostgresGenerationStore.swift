import Foundation
import GenerationStore
import Logging
import PostgresNIO
import VMGenID

/// The ledger in a PostgreSQL database that every host's genid shares: the
/// fleet ledger. A value is unique across the fleet (the server's UNIQUE
/// constraint, whichever host races), each record names the host that
/// wrote it, and a live migration moves a record instead of adding one.
///
/// genid records a value before any guest sees it, so while the server
/// cannot be reached every operation fails within `timeout` with
/// `StoreError.unavailable`, and no value is given; the next operation
/// after the server is back reconnects by itself.
public final class PostgresGenerationStore: GenerationStore {
    public let location: String
    public let host: String
    /// Where this store's password is exposed (see `PostgresLocation`).
    public let warnings: [String]
    private let session: PostgresSession

    /// How long one operation may take, connecting included, before it fails.
    public static let defaultTimeout: Duration = .seconds(5)

    /// A store for the database `url` names (see `PostgresLocation`). Nothing
    /// is connected until the first operation.
    public init(url: String, host: String = HostName.current, timeout: Duration = defaultTimeout) throws {
        let parsed = try PostgresLocation(url)
        var logger = Logger(label: "genid.fleet-ledger")
        logger.logLevel = .critical  // failures come back as StoreError, worded for people
        location = parsed.description
        warnings = parsed.warnings
        self.host = host
        session = PostgresSession(location: parsed, timeout: timeout, logger: logger)
    }

    /// Connects now (creating genid's tables if they are missing), so that a
    /// daemon finds a wrong URL at start rather than at the first event.
    public func check() async throws {
        _ = try await session.perform("connecting") { connection, logger in
            try await connection.query("SELECT 1", logger: logger)
        }
    }

    public func close() async {
        await session.close()
    }

    // MARK: - Values

    @discardableResult
    public func record(_ value: GenerationID, for vm: VMIdentity, role: GenerationRole, event: String, detail: String?,
                       origin: GenerationRecord.Origin) async throws -> GenerationRecord {
        try StoreArguments.requireNonEmpty(vm.name, "vm")
        try StoreArguments.requireNonEmpty(event, "event")
        let (uuid, host) = (Self.uuid(value), host)
        // ON CONFLICT DO NOTHING: the constraint, not a prior look-up, decides;
        // no row back means another insert of the value won.
        let inserted = try await session.perform("recording \(value) for VM '\(vm.name)'") { connection, logger in
            try await Self.one(connection.query("""
                INSERT INTO genid.generation (vm, vm_uuid, host, value, role, event, detail, origin)
                VALUES (\(vm.name), \(vm.uuid), \(host), \(uuid), \(role.rawValue), \(event), \(detail), \
                \(origin.rawValue))
                ON CONFLICT (value) DO NOTHING
                RETURNING \(unescaped: Self.columns)
                """, logger: logger))
        }
        if let inserted { return inserted }
        guard let owner = try await owner(of: value) else {
            throw StoreError.unavailable("fleet ledger \(location): \(value) was refused as already recorded, "
                + "yet no record holds it")
        }
        throw StoreError.valueAlreadyRecorded(owner)
    }

    public func move(_ value: GenerationID, of vm: VMIdentity) async throws -> GenerationRecord {
        guard let record = try await owner(of: value), record.vm.isSameVM(as: vm) else {
            throw StoreError.notRecorded(value, vm: vm.name)
        }
        let (uuid, host) = (Self.uuid(value), host)
        let moved = try await session.perform("moving \(value) of VM '\(vm.name)' to \(host)") { connection, logger in
            try await Self.one(connection.query("""
                UPDATE genid.generation SET host = \(host) WHERE value = \(uuid) RETURNING \(unescaped: Self.columns)
                """, logger: logger))
        }
        guard let moved else { throw StoreError.notRecorded(value, vm: vm.name) }
        try await audit(vm, kind: "moved",
                        message: "\(value) moved with the VM from \(record.host ?? "an unnamed host") to \(host)")
        return moved
    }

    public func owner(of value: GenerationID) async throws -> GenerationRecord? {
        let uuid = Self.uuid(value)
        return try await session.perform("looking up \(value)") { connection, logger in
            try await Self.one(connection.query(
                "SELECT \(unescaped: Self.columns) FROM genid.generation WHERE value = \(uuid)", logger: logger))
        }
    }

    /// One round trip: the records of `values` and `vm`'s newest in each role.
    public func view(of values: [GenerationID], for vm: VMIdentity) async throws -> LedgerView {
        let uuids = values.map(Self.uuid)
        let (name, uuid) = (vm.name, vm.uuid)
        let rows = try await session.perform("reading the ledger's view of \(vm.name)") { connection, logger in
            try await Self.tagged(connection.query("""
                SELECT 'value', \(unescaped: Self.columns) FROM genid.generation WHERE value = ANY(\(uuids))
                UNION ALL (SELECT role, \(unescaped: Self.columns) FROM genid.generation
                    WHERE role = 'live' AND (vm_uuid = \(uuid) OR ((\(uuid)::text IS NULL OR vm_uuid IS NULL) AND vm = \(name)))
                    ORDER BY id DESC LIMIT 1)
                UNION ALL (SELECT role, \(unescaped: Self.columns) FROM genid.generation
                    WHERE role = 'persistent' AND (vm_uuid = \(uuid) OR ((\(uuid)::text IS NULL OR vm_uuid IS NULL) AND vm = \(name)))
                    ORDER BY id DESC LIMIT 1)
                """, logger: logger))
        }
        var view = LedgerView(records: [:], latestLive: nil, latestPersistent: nil)
        for (tag, record) in rows {
            switch tag {
            case "value": view.records[record.value] = record
            case "live": view.latestLive = record
            default: view.latestPersistent = record
            }
        }
        return view
    }

    public func latest(of vm: VMIdentity, role: GenerationRole) async throws -> GenerationRecord? {
        try await session.perform("reading the latest value of \(vm.name)") { connection, logger in
            let query: PostgresQuery = if let uuid = vm.uuid {
                """
                SELECT \(unescaped: Self.columns) FROM genid.generation WHERE role = \(role.rawValue)
                AND (vm_uuid = \(uuid) OR (vm_uuid IS NULL AND vm = \(vm.name))) ORDER BY id DESC LIMIT 1
                """
            } else {
                """
                SELECT \(unescaped: Self.columns) FROM genid.generation WHERE role = \(role.rawValue) AND vm = \(vm.name)
                ORDER BY id DESC LIMIT 1
                """
            }
            return try await Self.one(connection.query(query, logger: logger))
        }
    }

    public func history(vm: String?, limit: Int?, before: Int64?) async throws -> [GenerationRecord] {
        try StoreArguments.requireValidLimit(limit)
        let (name, uuid, count) = (vm, vm?.lowercased(), limit.map(Int64.init))
        return try await session.perform("reading the history") { connection, logger in
            try await Self.all(connection.query("""
                SELECT * FROM (SELECT \(unescaped: Self.columns) FROM genid.generation
                WHERE (\(name)::text IS NULL OR vm = \(name) OR vm_uuid = \(uuid))
                AND (\(before)::bigint IS NULL OR id < \(before))
                ORDER BY id DESC LIMIT \(count)) newest ORDER BY id
                """, logger: logger))
        }
    }

    public func duplicateValues() async throws -> [GenerationID] {
        try await session.perform("checking for duplicate values") { connection, logger in
            var values: [GenerationID] = []
            for try await value in try await connection.query(
                "SELECT value FROM genid.generation GROUP BY value HAVING count(*) > 1 ORDER BY 1", logger: logger
            ).decode(UUID.self) {
                if let id = GenerationID(value.uuidString) { values.append(id) }
            }
            return values
        }
    }

    // MARK: - Audit trail

    public func audit(_ vm: VMIdentity, kind: String, message: String) async throws {
        try StoreArguments.requireNonEmpty(vm.name, "vm")
        try StoreArguments.requireNonEmpty(kind, "kind")
        let host = host
        _ = try await session.perform("writing an audit entry for VM '\(vm.name)'") { connection, logger in
            try await connection.query("""
                INSERT INTO genid.audit (vm, host, kind, message) VALUES (\(vm.name), \(host), \(kind), \(message))
                """, logger: logger)
        }
    }

    public func auditTrail(vm: String?, limit: Int?) async throws -> [AuditRecord] {
        try StoreArguments.requireValidLimit(limit)
        let (name, count) = (vm, limit.map(Int64.init))
        return try await session.perform("reading the audit trail") { connection, logger in
            var records: [AuditRecord] = []
            for try await (id, vm, kind, message, createdAt) in try await connection.query("""
                SELECT * FROM (SELECT id, vm, kind, message, created_at FROM genid.audit
                WHERE \(name)::text IS NULL OR vm = \(name) ORDER BY id DESC LIMIT \(count)) newest ORDER BY id
                """, logger: logger).decode((Int64, String, String, String, Date).self) {
                records.append(AuditRecord(id: id, vm: vm, kind: kind, message: message, createdAt: createdAt))
            }
            return records
        }
    }

    // MARK: - Rows

    /// Column list `all` decodes.
    private static let columns = "id, vm, vm_uuid, host, value, role, event, detail, origin, created_at"

    private static func all(_ rows: PostgresRowSequence) async throws -> [GenerationRecord] {
        var records: [GenerationRecord] = []
        for try await (id, vm, vmUUID, host, value, role, event, detail, origin, createdAt) in rows.decode(
            (Int64, String, String?, String?, UUID, String, String, String?, String, Date).self
        ) {
            records.append(try record(id, vm, vmUUID, host, value, role, event, detail, origin, createdAt))
        }
        return records
    }

    private static func record(_ id: Int64, _ vm: String, _ vmUUID: String?, _ host: String?, _ value: UUID,
                               _ role: String, _ event: String, _ detail: String?, _ origin: String,
                               _ createdAt: Date) throws -> GenerationRecord {
        guard let origin = GenerationRecord.Origin(rawValue: origin), let role = GenerationRole(rawValue: role),
              let value = GenerationID(value.uuidString) else {
            throw StoreError.unavailable("fleet ledger row \(id) has an unreadable origin, role or value")
        }
        return GenerationRecord(id: id, vm: VMIdentity(name: vm, uuid: vmUUID), host: host, value: value, role: role,
                                event: event, detail: detail, origin: origin, createdAt: createdAt)
    }

    /// Rows of `all`'s columns after a first text column (a tag).
    private static func tagged(_ rows: PostgresRowSequence) async throws -> [(String, GenerationRecord)] {
        var result: [(String, GenerationRecord)] = []
        for try await (tag, id, vm, vmUUID, host, value, role, event, detail, origin, createdAt) in rows.decode(
            (String, Int64, String, String?, String?, UUID, String, String, String?, String, Date).self
        ) {
            result.append((tag, try record(id, vm, vmUUID, host, value, role, event, detail, origin, createdAt)))
        }
        return result
    }

    private static func one(_ rows: PostgresRowSequence) async throws -> GenerationRecord? {
        try await all(rows).first
    }

    private static func uuid(_ value: GenerationID) -> UUID {
        UUID(uuidString: value.description)!
    }
}
