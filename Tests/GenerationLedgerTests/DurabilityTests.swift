import Foundation
import Testing
@testable import GenerationLedger

@Suite("Crashes and other processes")
struct DurabilityTests {
    @Test func aValueRecordedBeforeACrashStillBlocksReuse() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("ledger.sqlite")
        let value = randomValue()
        let recorded: GenerationRecord
        do {
            // The rotator records, then "crashes" before writing guest memory:
            // no further call, the ledger just goes away.
            let ledger = try GenerationLedger(path: path)
            recorded = try ledger.issueFresh(vm: "web", event: "revert", detail: "snap-1") { value }
        }
        let reopened = try GenerationLedger(path: path)
        #expect(try reopened.record(for: value) == recorded)
        #expect(throws: LedgerError.valueAlreadyIssued(value: value, ownerVM: "web", event: "revert")) {
            try reopened.record(vm: "web", value: value, event: "revert")
        }
        #expect(throws: LedgerError.noFreshValue(vm: "web", attempts: 3)) {
            try reopened.issueFresh(vm: "web", event: "revert", attempts: 3) { value }
        }
    }

    @Test func theDiskStateRightAfterACommitHoldsTheValue() throws {
        // Copy the database and its WAL while the ledger is still open, as a
        // power cut would leave them (no checkpoint, no clean close).
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("ledger.sqlite")
        let ledger = try GenerationLedger(path: path)
        let recorded = try ledger.record(vm: "web", value: randomValue(), event: "rotate")
        let copy = directory.file("copy.sqlite")
        try FileManager.default.copyItem(atPath: path, toPath: copy)
        try FileManager.default.copyItem(atPath: path + "-wal", toPath: copy + "-wal")
        withExtendedLifetime(ledger) {}

        let recovered = try GenerationLedger(path: copy)
        #expect(try recovered.history() == [recorded])
        #expect(throws: LedgerError.valueAlreadyIssued(value: recorded.value, ownerVM: "web", event: "rotate")) {
            try recovered.record(vm: "other", value: recorded.value, event: "clone")
        }
    }
}

@Suite("The sqlite3 CLI as another process", .enabled(if: sqlite3Available, "needs /usr/bin/sqlite3"))
struct OtherProcessTests {
    @Test func aValueWrittenByAnotherProcessBlocksReuse() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("ledger.sqlite")
        let ledger = try GenerationLedger(path: path)
        let mine = try ledger.record(vm: "web", value: randomValue(), event: "boot")
        let theirs = randomValue()

        let insert = try runSQLite3(path, """
            INSERT INTO generation (vm, value, event, origin) VALUES ('elsewhere', '\(theirs)', 'clone', 'issued');
            """)
        #expect(insert.status == 0, "\(insert.output)")
        #expect(try ledger.record(for: theirs)?.vm == "elsewhere")
        #expect(throws: LedgerError.valueAlreadyIssued(value: theirs, ownerVM: "elsewhere", event: "clone")) {
            try ledger.record(vm: "web", value: theirs, event: "revert")
        }

        // The database itself refuses a duplicate, and an upper-case twin
        // that would slip past a case-sensitive UNIQUE.
        let duplicate = try runSQLite3(path, """
            INSERT INTO generation (vm, value, event, origin) VALUES ('elsewhere', '\(mine.value)', 'clone', 'issued');
            """)
        #expect(duplicate.status != 0)
        #expect(duplicate.output.contains("UNIQUE constraint failed"))
        let twin = try runSQLite3(path, """
            INSERT INTO generation (vm, value, event, origin) VALUES ('elsewhere', '\(mine.value.uppercased())', 'clone', 'issued');
            """)
        #expect(twin.status != 0)
        #expect(twin.output.contains("CHECK constraint failed"))
        #expect(try ledger.history().map(\.vm) == ["web", "elsewhere"])
        #expect(try ledger.duplicateValues().isEmpty)
    }

    @Test func theLedgerWaitsForAnotherProcessesLockThenSeesItsValue() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("ledger.sqlite")
        let ledger = try GenerationLedger(path: path)
        let value = randomValue()
        let marker = directory.file("locked")

        let other = try SQLite3Session(path)
        other.send("""
            BEGIN IMMEDIATE;
            INSERT INTO generation (vm, value, event, origin) VALUES ('elsewhere', '\(value)', 'clone', 'issued');
            .shell touch \(shellQuoted(marker))
            """)
        #expect(waitForFile(marker))

        // Our write must wait for their transaction, not fail with "locked".
        let outcome = Locked<Result<GenerationRecord, LedgerError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread {
            do {
                let record = try ledger.record(vm: "web", value: value, event: "revert")
                outcome.withLock { $0 = .success(record) }
            } catch {
                outcome.withLock { $0 = .failure(error as! LedgerError) }
            }
            done.signal()
        }.start()
        #expect(done.wait(timeout: .now() + 0.5) == .timedOut, "the ledger did not wait for the lock")

        other.send("COMMIT;")
        let finished = other.finish()
        #expect(finished.status == 0, "\(finished.output)")
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(outcome.value == .failure(.valueAlreadyIssued(value: value, ownerVM: "elsewhere", event: "clone")))
    }

    @Test func aValueCommittedByAProcessThatThenDiedIsKept() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("ledger.sqlite")
        _ = try GenerationLedger(path: path)  // create the schema
        let value = randomValue()
        let marker = directory.file("committed")

        let other = try SQLite3Session(path)
        other.send("""
            INSERT INTO generation (vm, value, event, origin) VALUES ('web', '\(value)', 'revert', 'issued');
            .shell touch \(shellQuoted(marker))
            """)
        #expect(waitForFile(marker))
        other.crash()  // SIGKILL: the WAL is left behind, never checkpointed

        let ledger = try GenerationLedger(path: path)
        #expect(try ledger.record(for: value)?.vm == "web")
        #expect(throws: LedgerError.valueAlreadyIssued(value: value, ownerVM: "web", event: "revert")) {
            try ledger.record(vm: "web", value: value, event: "revert")
        }
    }

    @Test func aLedgerFromANewerGenidIsRefused() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("ledger.sqlite")
        _ = try GenerationLedger(path: path)
        let result = try runSQLite3(path, "INSERT INTO grdb_migrations VALUES ('v999');")
        #expect(result.status == 0, "\(result.output)")
        let error = #expect(throws: LedgerError.self) { try GenerationLedger(path: path) }
        #expect(error?.description.contains("newer genid") == true)
        #expect(error?.description.contains(path) == true)
    }
}
