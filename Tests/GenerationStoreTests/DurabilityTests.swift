import Foundation
import Testing
import GenerationStore
import SQLiteGenerationStore
import VMGenID

@Suite("Crashes and other processes")
struct DurabilityTests {
    let web = VMIdentity(name: "web")

    @Test func aValueRecordedBeforeACrashStillBlocksReuse() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("ledger.sqlite")
        let value = GenerationID.random()
        let recorded: GenerationRecord
        do {
            // The rotator records, then "crashes" before writing guest memory:
            // no further call, the ledger just goes away.
            let ledger = try SQLiteGenerationStore(path: path)
            recorded = try await ledger.issueFresh(for: web, event: "revert", detail: "snap-1") { value }
        }
        let reopened = try SQLiteGenerationStore(path: path)
        #expect(try await reopened.owner(of: value) == recorded)
        await #expect(throws: StoreError.valueAlreadyRecorded(recorded)) {
            try await reopened.record(value, for: web, role: .live, event: "revert", detail: nil, origin: .issued)
        }
        await #expect(throws: StoreError.noFreshValue(vm: "web", attempts: 3)) {
            try await reopened.issueFresh(for: web, event: "revert", attempts: 3) { value }
        }
    }

    @Test func theDiskStateRightAfterACommitHoldsTheValue() async throws {
        // Copy the database and its WAL while the ledger is still open, as a
        // power cut would leave them (no checkpoint, no clean close).
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("ledger.sqlite")
        let ledger = try SQLiteGenerationStore(path: path)
        let recorded = try await ledger.issueFresh(for: web, event: "rotate")
        let copy = directory.file("copy.sqlite")
        try FileManager.default.copyItem(atPath: path, toPath: copy)
        try FileManager.default.copyItem(atPath: path + "-wal", toPath: copy + "-wal")
        withExtendedLifetime(ledger) {}

        let recovered = try SQLiteGenerationStore(path: copy)
        #expect(try await recovered.history() == [recorded])
        await #expect(throws: StoreError.valueAlreadyRecorded(recorded)) {
            try await recovered.record(recorded.value, for: VMIdentity(name: "other"), role: .live, event: "clone",
                                       detail: nil, origin: .issued)
        }
    }
}

@Suite("The sqlite3 CLI as another process", .enabled(if: sqlite3Available, "needs /usr/bin/sqlite3"))
struct OtherProcessTests {
    let web = VMIdentity(name: "web")

    @Test func aValueWrittenByAnotherProcessBlocksReuse() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("ledger.sqlite")
        let ledger = try SQLiteGenerationStore(path: path)
        let mine = try await ledger.issueFresh(for: web, event: "boot")
        let theirs = GenerationID.random()

        let insert = try runSQLite3(path, """
            INSERT INTO generation (vm, value, event, origin) VALUES ('elsewhere', '\(theirs)', 'clone', 'issued');
            """)
        #expect(insert.status == 0, "\(insert.output)")
        let owner = try #require(try await ledger.owner(of: theirs))
        #expect(owner.vm.name == "elsewhere" && owner.event == "clone")
        await #expect(throws: StoreError.valueAlreadyRecorded(owner)) {
            try await ledger.record(theirs, for: web, role: .live, event: "revert", detail: nil, origin: .issued)
        }

        // The database itself refuses a duplicate, and an upper-case twin
        // that would slip past a case-sensitive UNIQUE.
        let duplicate = try runSQLite3(path, """
            INSERT INTO generation (vm, value, event, origin) VALUES ('elsewhere', '\(mine.value)', 'clone', 'issued');
            """)
        #expect(duplicate.status != 0)
        #expect(duplicate.output.contains("UNIQUE constraint failed"))
        let twin = try runSQLite3(path, """
            INSERT INTO generation (vm, value, event, origin) VALUES ('elsewhere', '\(mine.value.description.uppercased())', 'clone', 'issued');
            """)
        #expect(twin.status != 0)
        #expect(twin.output.contains("CHECK constraint failed"))
        #expect(try await ledger.history().map(\.vm.name) == ["web", "elsewhere"])
        #expect(try await ledger.duplicateValues().isEmpty)
    }

    @Test func theLedgerWaitsForAnotherProcessesLockThenSeesItsValue() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("ledger.sqlite")
        let ledger = try SQLiteGenerationStore(path: path)
        let value = GenerationID.random()
        let marker = directory.file("locked")

        let other = try SQLite3Session(path)
        other.send("""
            BEGIN IMMEDIATE;
            INSERT INTO generation (vm, value, event, origin) VALUES ('elsewhere', '\(value)', 'clone', 'issued');
            .shell touch \(shellQuoted(marker))
            """)
        #expect(waitForFile(marker))

        // Our write must wait for their transaction, not fail with "locked".
        let web = web
        let attempt = Task {
            try await ledger.record(value, for: web, role: .live, event: "revert", detail: nil, origin: .issued)
        }
        try await Task.sleep(for: .milliseconds(500))
        let waited = Locked(true)
        Task {
            _ = await attempt.result
            waited.withLock { $0 = false }
        }
        try await Task.sleep(for: .milliseconds(50))
        #expect(waited.value, "the ledger did not wait for the lock")

        other.send("COMMIT;")
        let finished = other.finish()
        #expect(finished.status == 0, "\(finished.output)")
        guard case .failure(StoreError.valueAlreadyRecorded(let owner)) = await attempt.result else {
            Issue.record("expected the value to be refused as recorded elsewhere")
            return
        }
        #expect(owner.vm.name == "elsewhere" && owner.value == value)
    }

    @Test func aValueCommittedByAProcessThatThenDiedIsKept() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("ledger.sqlite")
        _ = try SQLiteGenerationStore(path: path)  // create the schema
        let value = GenerationID.random()
        let marker = directory.file("committed")

        let other = try SQLite3Session(path)
        other.send("""
            INSERT INTO generation (vm, value, event, origin) VALUES ('web', '\(value)', 'revert', 'issued');
            .shell touch \(shellQuoted(marker))
            """)
        #expect(waitForFile(marker))
        other.crash()  // SIGKILL: the WAL is left behind, never checkpointed

        let ledger = try SQLiteGenerationStore(path: path)
        let owner = try #require(try await ledger.owner(of: value))
        #expect(owner.vm.name == "web")
        await #expect(throws: StoreError.valueAlreadyRecorded(owner)) {
            try await ledger.record(value, for: web, role: .live, event: "revert", detail: nil, origin: .issued)
        }
    }

    @Test func aLedgerFromANewerGenidIsRefused() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("ledger.sqlite")
        _ = try SQLiteGenerationStore(path: path)
        let result = try runSQLite3(path, "INSERT INTO grdb_migrations VALUES ('v999');")
        #expect(result.status == 0, "\(result.output)")
        let error = #expect(throws: StoreError.self) { try SQLiteGenerationStore(path: path) }
        #expect(error?.description.contains("newer genid") == true)
        #expect(error?.description.contains(path) == true)
    }
}
