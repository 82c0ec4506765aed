import Foundation
import GenerationStore
import PostgresGenerationStore
import SQLiteGenerationStore
import Testing
import VMGenID

/// What every `GenerationStore` promises, checked the same way on each
/// implementation: the in-memory one the daemon's unit tests use, the
/// SQLite one in memory and in a file, and the PostgreSQL fleet ledger on
/// the server `make test` starts (a database of its own for each test).
enum StoreKind: String, CaseIterable, CustomTestStringConvertible {
    case memory, sqliteInMemory, sqliteFile, postgres

    /// The PostgreSQL case only when a server runs (`make test`; `make check`
    /// starts none, and `PostgresStoreTests` show as skipped there).
    static var allCases: [StoreKind] {
        [.memory, .sqliteInMemory, .sqliteFile] + (PostgresTestServer.available ? [.postgres] : [])
    }

    var testDescription: String { rawValue }

    /// Runs `body` on a new, empty store of this kind, then removes its files
    /// or database.
    func withStore(_ body: (any GenerationStore) async throws -> Void) async throws {
        switch self {
        case .memory:
            try await body(InMemoryGenerationStore(host: "host-a"))
        case .sqliteInMemory:
            try await body(try SQLiteGenerationStore.inMemory(host: "host-a"))
        case .sqliteFile:
            let directory = try TemporaryDirectory()
            defer { directory.remove() }
            try await body(try SQLiteGenerationStore(path: directory.file("ledger.sqlite"), host: "host-a"))
        case .postgres:
            let server = try #require(PostgresTestServer.directory)
            let database = try PostgresTestServer.createDatabase(in: server)
            defer { PostgresTestServer.dropDatabase(database.name, in: server) }
            let store = try PostgresGenerationStore(url: database.url, host: "host-a", timeout: .seconds(60))
            try await body(store)
            await store.close()
        }
    }
}

@Suite("Every store keeps the ledger's promises")
struct StoreConformanceTests {
    let web = VMIdentity(name: "web", uuid: "6f1d8a52-7c2e-4b9a-9d3e-0a1b2c3d4e5f")
    let db = VMIdentity(name: "db", uuid: "0c9b8a70-6e5d-4c3b-8a29-18f7e6d5c4b3")

    @Test(arguments: StoreKind.allCases)
    func recordsReadBackInOrder(kind: StoreKind) async throws {
        try await kind.withStore { (store: any GenerationStore) async throws in
            #expect(try await store.history().isEmpty)
            #expect(try await store.latest(of: web, role: .live) == nil)

            let before = Date().addingTimeInterval(-1)
            let boot = try await store.record(.random(), for: web, role: .live, event: "boot", detail: "QEMU's value",
                                              origin: .observed)
            let other = try await store.record(.random(), for: db, role: .live, event: "boot", detail: nil, origin: .issued)
            let persistent = try await store.record(.random(), for: web, role: .persistent, event: "clone",
                                                    detail: nil, origin: .issued)
            let revert = try await store.record(.random(), for: web, role: .live, event: "revert", detail: "snap-1",
                                                origin: .issued)
            #expect(boot.vm == web && boot.event == "boot" && boot.detail == "QEMU's value" && boot.origin == .observed)
            #expect(persistent.role == .persistent && revert.role == .live)
            #expect(boot.id < other.id && other.id < persistent.id && persistent.id < revert.id)
            #expect(boot.createdAt > before && boot.createdAt < Date().addingTimeInterval(1))

            #expect(try await store.history() == [boot, other, persistent, revert])
            #expect(try await store.history(vm: "web") == [boot, persistent, revert])
            #expect(try await store.history(vm: db.uuid!) == [other])
            #expect(try await store.history(vm: db.uuid!.uppercased()) == [other])
            #expect(try await store.history(vm: "nobody").isEmpty)
            // A limit keeps the newest records, still oldest first.
            #expect(try await store.history(vm: nil, limit: 2) == [persistent, revert])
            #expect(try await store.history(vm: "web", limit: 1) == [revert])
            #expect(try await store.history(vm: nil, limit: 0).isEmpty)
            await #expect(throws: StoreError.invalidArgument("limit must not be negative, got -1")) {
                try await store.history(vm: nil, limit: -1)
            }
            #expect(try await store.latest(of: web, role: .live) == revert)
            #expect(try await store.latest(of: web, role: .persistent) == persistent)
            #expect(try await store.latest(of: db, role: .persistent) == nil)
            #expect(try await store.owner(of: boot.value) == boot)
            #expect(try await store.owner(of: .random()) == nil)
            #expect(try await store.duplicateValues().isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aValueIsNeverGivenTwice(kind: StoreKind) async throws {
        try await kind.withStore { (store: any GenerationStore) async throws in
            let value = GenerationID.random()
            let first = try await store.record(value, for: web, role: .live, event: "boot", detail: nil, origin: .issued)
            // Another VM (a clone), the same VM again, another role, another origin: all refused.
            for (vm, role, origin) in [(db, GenerationRole.live, GenerationRecord.Origin.issued), (web, .live, .issued),
                                       (web, .persistent, .issued), (web, .live, .observed)] {
                await #expect(throws: StoreError.valueAlreadyRecorded(first)) {
                    try await store.record(value, for: vm, role: role, event: "again", detail: nil, origin: origin)
                }
            }
            #expect(try await store.history() == [first])
            let message = StoreError.valueAlreadyRecorded(first).description
            #expect(message.contains(value.description) && message.contains("'web'") && message.contains("never be given twice"))
        }
    }

    @Test(arguments: StoreKind.allCases)
    func recordsNameTheirHostAndMoveWithTheirVM(kind: StoreKind) async throws {
        try await kind.withStore { (store: any GenerationStore) async throws in
            #expect(store.host == "host-a")
            let record = try await store.issueFresh(for: web, event: "revert")
            #expect(record.host == "host-a")
            let moved = try await store.move(record.value, of: VMIdentity(name: "web-renamed", uuid: web.uuid))
            #expect(moved.value == record.value && moved.id == record.id && moved.host == "host-a")
            #expect(try await store.history().count == 1)
            #expect(try await store.auditTrail(vm: "web-renamed", limit: nil).map(\.kind) == ["moved"])
            // Only the VM that holds a value can take it along.
            await #expect(throws: StoreError.notRecorded(record.value, vm: "db")) {
                try await store.move(record.value, of: db)
            }
            let unknown = GenerationID.random()
            await #expect(throws: StoreError.notRecorded(unknown, vm: "web")) {
                try await store.move(unknown, of: web)
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aViewAnswersWhatTheSeparateQuestionsWould(kind: StoreKind) async throws {
        try await kind.withStore { (store: any GenerationStore) async throws in
            let plain = VMIdentity(name: "lab/vm1")
            let definition = try await store.issueFresh(for: web, role: .persistent, event: "defined")
            let live = try await store.issueFresh(for: web, event: "revert")
            let other = try await store.issueFresh(for: db, event: "boot")
            let plainLive = try await store.issueFresh(for: plain, event: "revert")
            let unknown = GenerationID.random()
            for (vm, values) in [(web, [live.value, definition.value, other.value, unknown]), (db, [other.value]),
                                 (plain, [plainLive.value, live.value]), (web, [])] {
                let view = try await store.view(of: values, for: vm)
                var expected: [GenerationID: GenerationRecord] = [:]
                for value in values { if let record = try await store.owner(of: value) { expected[value] = record } }
                #expect(view.records == expected, "\(vm.name) \(values)")
                #expect(view.latestLive == (try await store.latest(of: vm, role: .live)))
                #expect(view.latestPersistent == (try await store.latest(of: vm, role: .persistent)))
            }
            let renamed = try await store.view(of: [], for: VMIdentity(name: "web-renamed", uuid: web.uuid))
            #expect(renamed.latestLive == live && renamed.latestPersistent == definition)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func anIdentityWithAUUIDSurvivesARename(kind: StoreKind) async throws {
        try await kind.withStore { (store: any GenerationStore) async throws in
            let before = try await store.issueFresh(for: web, event: "revert")
            let renamed = VMIdentity(name: "web-renamed", uuid: web.uuid)
            #expect(try await store.latest(of: renamed, role: .live) == before)
            #expect(try await store.owner(of: before.value)?.vm.isSameVM(as: renamed) == true)
            // Another domain that took the old name is not the same VM.
            let usurper = VMIdentity(name: "web", uuid: "11111111-2222-4333-8444-555555555555")
            #expect(try await store.latest(of: usurper, role: .live) == nil)
            // A VM without a UUID (plain QEMU) is its name.
            let plain = VMIdentity(name: "lab/vm1")
            let plainRecord = try await store.issueFresh(for: plain, event: "revert")
            #expect(try await store.latest(of: VMIdentity(name: "lab/vm1"), role: .live) == plainRecord)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func issueFreshDrawsAgainUntilAValueIsNew(kind: StoreKind) async throws {
        try await kind.withStore { (store: any GenerationStore) async throws in
            let known = try await store.issueFresh(for: db, event: "boot").value
            let fresh = GenerationID.random()
            var candidates = [known, known, fresh]
            let issued = try await store.issueFresh(for: web, role: .persistent, event: "clone", detail: "copied XML") {
                candidates.removeFirst()
            }
            #expect(candidates.isEmpty)
            #expect(issued.value == fresh && issued.vm == web && issued.role == .persistent && issued.origin == .issued)
            #expect(issued.event == "clone" && issued.detail == "copied XML")

            var calls = 0
            await #expect(throws: StoreError.noFreshValue(vm: "web", attempts: 5)) {
                try await store.issueFresh(for: web, event: "revert", attempts: 5) {
                    calls += 1
                    return known
                }
            }
            #expect(calls == 5)
            #expect(StoreError.noFreshValue(vm: "web", attempts: 5).description.contains("random source"))
            await #expect(throws: StoreError.invalidArgument("attempts must be at least 1, got 0")) {
                try await store.issueFresh(for: web, event: "revert", attempts: 0)
            }
            #expect(try await store.history().count == 2)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func anObservedValueOfThisVMIsRecordedOnce(kind: StoreKind) async throws {
        try await kind.withStore { (store: any GenerationStore) async throws in
            let value = GenerationID.random()
            try await store.recordObserved(value, for: web, role: .live, event: "started-restored")
            // Seen again by another handler, or under the domain's new name: nothing to do.
            try await store.recordObserved(value, for: VMIdentity(name: "renamed", uuid: web.uuid), role: .live,
                                           event: "reconciliation")
            #expect(try await store.history().count == 1)
            // Seen in another VM: that is a clone, and an error.
            await #expect(throws: StoreError.self) {
                try await store.recordObserved(value, for: db, role: .live, event: "started-restored")
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func emptyFieldsAreRefusedAndNothingIsWritten(kind: StoreKind) async throws {
        try await kind.withStore { (store: any GenerationStore) async throws in
            await #expect(throws: StoreError.invalidArgument("vm must not be empty")) {
                try await store.record(.random(), for: VMIdentity(name: ""), role: .live, event: "boot", detail: nil,
                                       origin: .issued)
            }
            await #expect(throws: StoreError.invalidArgument("event must not be empty")) {
                try await store.record(.random(), for: web, role: .live, event: "", detail: nil, origin: .issued)
            }
            await #expect(throws: StoreError.invalidArgument("kind must not be empty")) {
                try await store.audit(web, kind: "", message: "x")
            }
            #expect(try await store.history().isEmpty)
            #expect(try await store.auditTrail(vm: nil, limit: nil).isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func theAuditTrailIsKeptApartFromValues(kind: StoreKind) async throws {
        try await kind.withStore { (store: any GenerationStore) async throws in
            try await store.audit(web, kind: "check", message: "value matches ledger")
            try await store.audit(db, kind: "rotation-failed", message: "QMP socket closed")
            try await store.audit(web, kind: "decision", message: "revert detected: rotating")
            let trail = try await store.auditTrail(vm: nil, limit: nil)
            #expect(trail.map(\.kind) == ["check", "rotation-failed", "decision"])
            #expect(trail[0].vm == "web" && trail[0].message == "value matches ledger")
            #expect(trail[0].id < trail[1].id && trail[1].id < trail[2].id)
            #expect(try await store.auditTrail(vm: "web", limit: nil).map(\.kind) == ["check", "decision"])
            #expect(try await store.auditTrail(vm: "web", limit: 1).map(\.kind) == ["decision"])
            #expect(try await store.history().isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func recordsEncodeAsFlatJSON(kind: StoreKind) async throws {
        try await kind.withStore { (store: any GenerationStore) async throws in
            let record = try await store.record(.random(), for: web, role: .persistent, event: "clone", detail: nil,
                                                origin: .observed)
            let json = String(decoding: try JSONEncoder().encode(record), as: UTF8.self)
            #expect(try JSONDecoder().decode(GenerationRecord.self, from: Data(json.utf8)) == record)
            for field in ["\"origin\":\"observed\"", "\"role\":\"persistent\"", "\"vm\":\"web\"",
                          "\"value\":\"\(record.value)\"", "\"vmUUID\":\"\(web.uuid!)\""] {
                #expect(json.contains(field), "\(field) in \(json)")
            }
        }
    }
}

@Suite("SQLite store specifics")
struct SQLiteStoreTests {
    @Test func inMemoryLedgersArePrivate() async throws {
        let one = try SQLiteGenerationStore.inMemory()
        let two = try SQLiteGenerationStore.inMemory()
        let record = try await one.issueFresh(for: VMIdentity(name: "a"), event: "boot")
        #expect(one.location == ":memory:")
        #expect(try await two.owner(of: record.value) == nil)
    }

    @Test func aLedgerOfGenidBeforeRolesIsUpgraded() async throws {
        guard sqlite3Available else { return }
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("ledger.sqlite")
        // The schema and rows as genid wrote them before v2: the role was a prefix of the event.
        let (status, output) = try runSQLite3(path, """
            CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
            INSERT INTO grdb_migrations VALUES ('v1');
            CREATE TABLE generation (id INTEGER PRIMARY KEY AUTOINCREMENT, vm TEXT NOT NULL, value TEXT NOT NULL UNIQUE,
                event TEXT NOT NULL, detail TEXT, origin TEXT NOT NULL, created_at DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')));
            CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, vm TEXT NOT NULL, kind TEXT NOT NULL,
                message TEXT NOT NULL, created_at DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')));
            INSERT INTO generation (vm, value, event, origin) VALUES
                ('web', '11111111-2222-4333-8444-555555555555', 'persistent.clone', 'issued'),
                ('web', '22222222-2222-4333-8444-555555555555', 'live.started-restored', 'observed'),
                ('lab/vm', '33333333-2222-4333-8444-555555555555', 'revert', 'issued');
            """)
        #expect(status == 0, "\(output)")
        let store = try SQLiteGenerationStore(path: path)
        let history = try await store.history()
        #expect(history.map(\.role) == [.persistent, .live, .live])
        #expect(history.map(\.event) == ["clone", "started-restored", "revert"])
        // Old rows have no UUID: they belong to the domain of that name.
        let web = VMIdentity(name: "web", uuid: "6f1d8a52-7c2e-4b9a-9d3e-0a1b2c3d4e5f")
        #expect(try await store.latest(of: web, role: .persistent)?.value.description
                    == "11111111-2222-4333-8444-555555555555")
    }
}
