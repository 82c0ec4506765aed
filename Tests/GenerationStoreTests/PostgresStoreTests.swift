import Foundation
import GenerationStore
import PostgresGenerationStore
import Testing
import VMGenID

/// What only the fleet ledger does: two hosts on one database, a server
/// that goes away and comes back, and URLs a person may get wrong. Needs a
/// PostgreSQL server (`make test` starts one; `make check` skips these).
@Suite("PostgreSQL fleet ledger", .enabled(if: PostgresTestServer.available, "no PostgreSQL server (make test starts one)"))
struct PostgresStoreTests {
    let web = VMIdentity(name: "web", uuid: "6f1d8a52-7c2e-4b9a-9d3e-0a1b2c3d4e5f")

    /// Two hosts' stores on one new database.
    func withTwoHosts(_ body: (PostgresGenerationStore, PostgresGenerationStore) async throws -> Void) async throws {
        let server = try #require(PostgresTestServer.directory)
        let database = try PostgresTestServer.createDatabase(in: server)
        defer { PostgresTestServer.dropDatabase(database.name, in: server) }
        // A generous deadline: a loaded CI machine is slow, not down.
        let hostA = try PostgresGenerationStore(url: database.url, host: "host-a", timeout: .seconds(60))
        let hostB = try PostgresGenerationStore(url: database.url, host: "host-b", timeout: .seconds(60))
        try await body(hostA, hostB)
        await hostA.close()
        await hostB.close()
    }

    @Test func aValueIsUniqueAcrossHostsAndAMigrationMovesIt() async throws {
        try await withTwoHosts { (hostA, hostB) async throws in
            let given = try await hostA.issueFresh(for: web, event: "revert")
            #expect(given.host == "host-a")
            // A copy of the domain on host B may not take host A's value.
            await #expect(throws: StoreError.valueAlreadyRecorded(given)) {
                try await hostB.record(given.value, for: VMIdentity(name: "web-copy", uuid: UUID().uuidString.lowercased()),
                                       role: .live, event: "started", detail: nil, origin: .observed)
            }
            // The VM itself arrives on host B: the same record, now host B's.
            let moved = try await hostB.move(given.value, of: web)
            #expect(moved.id == given.id && moved.host == "host-b")
            #expect(try await hostA.owner(of: given.value)?.host == "host-b")
            #expect(try await hostA.history().count == 1)
            let trail = try await hostA.auditTrail(vm: "web", limit: nil)
            #expect(trail.map(\.message) == ["\(given.value) moved with the VM from host-a to host-b"])
        }
    }

    @Test func hostsRacingForValuesGetEachOnce() async throws {
        try await withTwoHosts { (hostA, hostB) async throws in
            let values = (0..<40).map { _ in GenerationID.random() }
            let winners = Locked<[String]>([])
            let otherErrors = Locked<[String]>([])
            await concurrently(80) { index in
                let (store, vm) = index % 2 == 0 ? (hostA, "vm-a") : (hostB, "vm-b")
                do {
                    let record = try await store.record(values[index / 2], for: VMIdentity(name: vm), role: .live,
                                                        event: "race", detail: nil, origin: .issued)
                    winners.withLock { $0.append(record.host ?? "") }
                } catch StoreError.valueAlreadyRecorded {
                    // The other host won this value.
                } catch {
                    otherErrors.withLock { $0.append("\(error)") }
                }
            }
            #expect(otherErrors.value.isEmpty, "\(otherErrors.value)")
            #expect(winners.value.count == values.count)
            #expect(try await hostA.history().count == values.count)
            #expect(try await hostB.duplicateValues().isEmpty)
        }
    }

    @Test func anUnreachableServerRefusesWithinTheTimeoutAndTheStoreRecoversByItself() async throws {
        let directory = try TemporaryDirectory()
        defer {
            try? PostgresTestServer.stop(directory.path + "/pg")
            directory.remove()
        }
        let url = try PostgresTestServer.start(directory.path + "/pg")
        let store = try PostgresGenerationStore(url: url, host: "host-a", timeout: .seconds(2))
        try await eventually { try await store.issueFresh(for: web, event: "boot") }
        // A slow first attempt may commit after its deadline and be retried: count what is there.
        let recordedBeforeStop = try await store.history().count

        try PostgresTestServer.stop(directory.path + "/pg")
        let started = ContinuousClock.now
        do {
            _ = try await store.issueFresh(for: web, event: "revert")
            Issue.record("a value was recorded while the server was stopped")
        } catch let StoreError.unavailable(message) {
            #expect(message.contains("fleet ledger postgres://genid@localhost/genid"), "\(message)")
            // Refused either way: the connection is refused, or (a loaded
            // machine) the attempt runs out of time first.
            #expect(message.contains("recording")
                        && (message.contains("cannot reach the server") || message.contains("no answer within")),
                    "\(message)")
        }
        // Refused, not hung (a loaded CI machine takes seconds to do anything).
        #expect(ContinuousClock.now - started < .seconds(30))
        await #expect(throws: StoreError.self) { try await store.latest(of: web, role: .live) }

        // Back: the same store instance carries on; nothing was recorded meanwhile.
        try PostgresTestServer.start(directory.path + "/pg")
        let next = try await eventually { try await store.issueFresh(for: web, event: "revert") }
        let history = try await store.history()
        #expect(history.prefix(recordedBeforeStop).allSatisfy { $0.event == "boot" }, "\(history)")
        #expect(history.dropFirst(recordedBeforeStop).allSatisfy { $0.event == "revert" }, "\(history)")
        #expect(history.last == next)
        #expect(try await store.latest(of: web, role: .live) == next)
        await store.close()
    }

    @Test func aServerThatStopsAnsweringIsGivenUpOnAtTheDeadline() async throws {
        let directory = try TemporaryDirectory()
        let serverDirectory = directory.path + "/pg"
        defer {
            if let pid = try? PostgresTestServer.serverPID(serverDirectory) { kill(pid, SIGCONT) }
            try? PostgresTestServer.stop(serverDirectory)
            directory.remove()
        }
        let url = try PostgresTestServer.start(serverDirectory)
        let store = try PostgresGenerationStore(url: url, host: "host-a", timeout: .seconds(1))
        try await eventually { try await store.issueFresh(for: web, event: "boot") }
        // A frozen server: connections stay open, nothing answers.
        let pid = try PostgresTestServer.serverPID(serverDirectory)
        let children = try PostgresTestServer.run("/usr/bin/pgrep", "-P", String(pid))
            .split(separator: "\n").compactMap { pid_t($0) }
        for process in [pid] + children { kill(process, SIGSTOP) }
        let attempted = GenerationID.random()
        let started = ContinuousClock.now
        do {
            try await store.record(attempted, for: web, role: .live, event: "revert", detail: nil, origin: .issued)
            Issue.record("a value was recorded while the server was frozen")
        } catch let StoreError.unavailable(message) {
            #expect(message.contains("no answer within 1"), "\(message)")
        }
        // Without the deadline the call would wait for the server forever.
        #expect(ContinuousClock.now - started < .seconds(30))
        for process in [pid] + children { kill(process, SIGCONT) }
        // The frozen server may still commit the insert it had received: the
        // value is then recorded but was never given, and never will be.
        do {
            try await eventually {
                try await store.record(attempted, for: web, role: .live, event: "revert", detail: nil, origin: .issued)
            }
        } catch StoreError.valueAlreadyRecorded(let owner) {
            #expect(owner.value == attempted && owner.vm == web)
        }
        let next = try await eventually { try await store.issueFresh(for: web, event: "revert") }
        #expect(try await store.latest(of: web, role: .live) == next)
        #expect(try await store.duplicateValues().isEmpty)
        await store.close()
    }

    /// Retries `operation` while the ledger is unavailable, for up to a
    /// minute: a loaded machine may miss a deadline of a second or two now
    /// and then. What the tests check is that this same store works again.
    @discardableResult
    func eventually<T>(_ operation: () async throws -> T) async throws -> T {
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            do {
                return try await operation()
            } catch StoreError.unavailable where ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
            }
        }
    }

    @Test func wrongURLsAreNamedPlainly() async throws {
        for (url, expected) in [
            ("/var/lib/genid/ledger.sqlite", "is not a PostgreSQL URL"),
            ("postgres://localhost/genid", "names no user"),
            ("postgres://genid@localhost", "names no database"),
            ("postgres://genid@localhost/genid?sslmode=verify", "sslmode 'verify', which is not one of"),
            ("postgres://genid@localhost/genid?sslmode=prefer", "falls back to plaintext"),
            ("postgres://genid@localhost/genid?sslmode=allow", "falls back to plaintext"),
            ("postgres://genid@localhost/genid?sslmod=disable", "unknown parameter 'sslmod'"),
            ("postgres://genid@localhost/genid?sslcert=/etc/hostname", "sslcert and sslkey: they go together"),
            ("postgres://genid@localhost/genid?sslrootcert=/nonexistent", "sslrootcert '/nonexistent'"),
            ("postgres://genid:pw@localhost/genid?passwordFile=/etc/hostname", "one way"),
        ] {
            #expect(throws: StoreError.self) { try PostgresGenerationStore(url: url) }
            do { _ = try PostgresGenerationStore(url: url) } catch { #expect("\(error)".contains(expected), "\(error)") }
        }
        let store = try PostgresGenerationStore(url: "postgres://genid:secret@localhost/genid")
        #expect(store.location == "postgres://genid:***@localhost/genid")

        let server = try #require(PostgresTestServer.directory)
        let missing = try PostgresGenerationStore(url: "postgres://genid@localhost/no_such_db?host=\(server)")
        do {
            try await missing.check()
            Issue.record("connected to a database that does not exist")
        } catch {
            #expect("\(error)".contains("create the database first"), "\(error)")
        }
    }

    @Test func aLedgerOfANewerGenidIsRefused() async throws {
        let server = try #require(PostgresTestServer.directory)
        let database = try PostgresTestServer.createDatabase(in: server)
        defer { PostgresTestServer.dropDatabase(database.name, in: server) }
        // Deadlines a loaded CI machine cannot miss: this test is about the version.
        let store = try PostgresGenerationStore(url: database.url, timeout: .seconds(60))
        try await store.check()
        await store.close()
        try PostgresTestServer.run("/usr/bin/psql", "-h", server, "-U", "genid", "-d", database.name, "-qc",
                                   "INSERT INTO genid.schema_version VALUES (99)")
        let newer = try PostgresGenerationStore(url: database.url, timeout: .seconds(60))
        do {
            try await newer.check()
            Issue.record("opened a ledger of schema version 99")
        } catch {
            #expect("\(error)".contains("version 99, newer than this genid's"), "\(error)")
        }
    }
}
