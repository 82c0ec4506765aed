import Foundation
import Testing
@testable import GenerationLedger

@Suite("Recording and reading values")
struct RecordingTests {
    @Test func roundTripHistoryLatestAndVMs() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let ledger = try GenerationLedger(path: directory.file("ledger.sqlite"))
        #expect(try ledger.history().isEmpty)
        #expect(try ledger.vms().isEmpty)
        #expect(try ledger.latest(vm: "web") == nil)

        let before = Date().addingTimeInterval(-1)
        let boot = try ledger.record(
            vm: "web", value: "5A67D7C6-9AB9-449B-A758-BE75B197648D", event: "observed",
            detail: "QEMU boot value", origin: .observed)
        let db = try ledger.record(vm: "db", value: "0f3c2a9e-1b7d-4e5f-8a6b-9c0d1e2f3a4b", event: "boot")
        let revert = try ledger.record(
            vm: "web", value: "11111111-2222-4333-8444-555555555555", event: "revert", detail: "snap-1")

        #expect(boot.value == "5a67d7c6-9ab9-449b-a758-be75b197648d")
        #expect(boot.vm == "web")
        #expect(boot.event == "observed")
        #expect(boot.detail == "QEMU boot value")
        #expect(boot.origin == .observed)
        #expect(db.origin == .issued)
        #expect(db.detail == nil)
        #expect(revert.detail == "snap-1")
        #expect(boot.id < db.id && db.id < revert.id)
        #expect(boot.createdAt > before && boot.createdAt < Date().addingTimeInterval(1))

        #expect(try ledger.history() == [boot, db, revert])
        #expect(try ledger.history(vm: "web") == [boot, revert])
        #expect(try ledger.history(vm: "db") == [db])
        #expect(try ledger.history(vm: "nobody").isEmpty)
        // limit keeps the newest records, still oldest first
        #expect(try ledger.history(limit: 2) == [db, revert])
        #expect(try ledger.history(vm: "web", limit: 1) == [revert])
        #expect(try ledger.history(limit: 0).isEmpty)
        #expect(throws: LedgerError.invalidArgument("limit must not be negative, got -1")) {
            try ledger.history(limit: -1)
        }
        #expect(try ledger.latest(vm: "web") == revert)
        #expect(try ledger.latest(vm: "db") == db)
        #expect(try ledger.vms() == ["db", "web"])

        #expect(try ledger.record(for: "5a67d7c6-9ab9-449b-a758-be75b197648d") == boot)
        #expect(try ledger.record(for: "5A67D7C6-9AB9-449B-A758-BE75B197648D") == boot)
        #expect(try ledger.isKnown("11111111-2222-4333-8444-555555555555"))
        #expect(try !ledger.isKnown(randomValue()))
        #expect(try ledger.duplicateValues().isEmpty)
    }

    @Test(arguments: [
        "",
        "5a67d7c6-9ab9-449b-a758-be75b197648",      // 35 characters
        "5a67d7c6-9ab9-449b-a758-be75b197648d0",    // 37 characters
        "5a67d7c69-ab9-449b-a758-be75b197648d",     // dash misplaced
        "5a67d7c6-9ab9-449b-a758-be75b197648g",     // not hex
        "5a67d7c6 9ab9 449b a758 be75b197648d",     // spaces
        "{5a67d7c6-9ab9-449b-a758-be75b197648}",    // braces
        "5a67d7c69ab9449ba758be75b197648d",         // no dashes
        "5a67d7c6-9ab9-449b-a758-be75b19764é",      // non-ASCII
    ])
    func invalidValuesAreRejected(text: String) throws {
        let ledger = try GenerationLedger.inMemory()
        #expect(throws: LedgerError.invalidValue(text)) {
            try ledger.record(vm: "web", value: text, event: "boot")
        }
        #expect(throws: LedgerError.invalidValue(text)) { try ledger.record(for: text) }
        #expect(try ledger.history().isEmpty)
    }

    @Test func emptyFieldsAreRejected() throws {
        let ledger = try GenerationLedger.inMemory()
        #expect(throws: LedgerError.invalidArgument("vm must not be empty")) {
            try ledger.record(vm: "", value: randomValue(), event: "boot")
        }
        #expect(throws: LedgerError.invalidArgument("event must not be empty")) {
            try ledger.record(vm: "web", value: randomValue(), event: "")
        }
        #expect(throws: LedgerError.invalidArgument("kind must not be empty")) {
            try ledger.audit(vm: "web", kind: "", message: "x")
        }
        #expect(try ledger.history().isEmpty)
        #expect(try ledger.auditTrail().isEmpty)
    }

    @Test func aValueIsNeverGivenTwice() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let ledger = try GenerationLedger(path: directory.file("ledger.sqlite"))
        let value = randomValue()
        let first = try ledger.record(vm: "web", value: value, event: "boot")

        // Another VM (a clone would be the typical case).
        let expected = LedgerError.valueAlreadyIssued(value: value, ownerVM: "web", event: "boot")
        #expect(throws: expected) {
            try ledger.record(vm: "web-clone", value: value, event: "clone")
        }
        // The same value spelt differently.
        #expect(throws: expected) {
            try ledger.record(vm: "web-clone", value: value.uppercased(), event: "clone")
        }
        // The same VM again: also refused, whatever the origin.
        #expect(throws: expected) {
            try ledger.record(vm: "web", value: value, event: "revert")
        }
        #expect(throws: expected) {
            try ledger.record(vm: "web", value: value, event: "observed", origin: .observed)
        }
        #expect(try ledger.history() == [first])
        #expect(try ledger.duplicateValues().isEmpty)

        let message = expected.description
        #expect(message.contains(value) && message.contains("'web'") && message.contains("never be given twice"))
    }

    @Test func issueFreshRetriesKnownValues() throws {
        let ledger = try GenerationLedger.inMemory()
        let known1 = try ledger.record(vm: "a", value: randomValue(), event: "boot").value
        let known2 = try ledger.record(vm: "b", value: randomValue(), event: "boot").value
        let fresh = randomValue()
        var candidates = [known1, known2.uppercased(), fresh]
        var calls = 0
        let issued = try ledger.issueFresh(vm: "a", event: "revert", detail: "snap") {
            calls += 1
            return candidates.removeFirst()
        }
        #expect(calls == 3)
        #expect(issued.value == fresh)
        #expect(issued.vm == "a" && issued.event == "revert" && issued.detail == "snap" && issued.origin == .issued)
        #expect(try ledger.latest(vm: "a") == issued)
    }

    @Test func issueFreshGivesUpAfterTheAttempts() throws {
        let ledger = try GenerationLedger.inMemory()
        let known = try ledger.record(vm: "a", value: randomValue(), event: "boot").value
        var calls = 0
        #expect(throws: LedgerError.noFreshValue(vm: "b", attempts: 5)) {
            try ledger.issueFresh(vm: "b", event: "revert", attempts: 5) {
                calls += 1
                return known
            }
        }
        #expect(calls == 5)

        calls = 0
        #expect(throws: LedgerError.noFreshValue(vm: "b", attempts: GenerationLedger.defaultFreshAttempts)) {
            try ledger.issueFresh(vm: "b", event: "revert") {
                calls += 1
                return known
            }
        }
        #expect(calls == GenerationLedger.defaultFreshAttempts)
        #expect(LedgerError.noFreshValue(vm: "b", attempts: 5).description.contains("random source"))
        #expect(try ledger.history().count == 1)

        // A malformed value is a caller bug: no retry, no record.
        calls = 0
        #expect(throws: LedgerError.invalidValue("nope")) {
            try ledger.issueFresh(vm: "b", event: "revert") {
                calls += 1
                return "nope"
            }
        }
        #expect(calls == 1)
        #expect(throws: LedgerError.invalidArgument("attempts must be at least 1, got 0")) {
            try ledger.issueFresh(vm: "b", event: "revert", attempts: 0) { randomValue() }
        }
        #expect(try ledger.history().count == 1)
    }

    @Test func auditTrailRoundTrip() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let ledger = try GenerationLedger(path: directory.file("ledger.sqlite"))
        let check = try ledger.audit(vm: "web", kind: "check", message: "value matches ledger")
        let failed = try ledger.audit(vm: "db", kind: "rotation-failed", message: "QMP socket closed")
        let decision = try ledger.audit(vm: "web", kind: "decision", message: "revert detected: rotating")
        #expect(check.vm == "web" && check.kind == "check" && check.message == "value matches ledger")
        #expect(check.id < failed.id && failed.id < decision.id)

        #expect(try ledger.auditTrail() == [check, failed, decision])
        #expect(try ledger.auditTrail(vm: "web") == [check, decision])
        #expect(try ledger.auditTrail(vm: "web", limit: 1) == [decision])
        #expect(try ledger.auditTrail(limit: 2) == [failed, decision])
        // The audit trail does not count as values.
        #expect(try ledger.history().isEmpty)
        #expect(try ledger.vms().isEmpty)

        // And it survives reopening.
        let reopened = try GenerationLedger(path: ledger.path)
        #expect(try reopened.auditTrail() == [check, failed, decision])
    }

    @Test func recordsEncodeAsJSON() throws {
        let ledger = try GenerationLedger.inMemory()
        let record = try ledger.record(vm: "web", value: randomValue(), event: "boot", origin: .observed)
        let audit = try ledger.audit(vm: "web", kind: "check", message: "ok")
        let encoder = JSONEncoder()
        let decoder = JSONDecoder()
        #expect(try decoder.decode(GenerationRecord.self, from: encoder.encode(record)) == record)
        #expect(try decoder.decode(AuditRecord.self, from: encoder.encode(audit)) == audit)
        let json = String(decoding: try encoder.encode(record), as: UTF8.self)
        #expect(json.contains("\"origin\":\"observed\""))
    }

    @Test func inMemoryLedgersArePrivate() throws {
        let one = try GenerationLedger.inMemory()
        let two = try GenerationLedger.inMemory()
        let value = randomValue()
        try one.record(vm: "a", value: value, event: "boot")
        #expect(one.path == ":memory:")
        #expect(try !two.isKnown(value))
    }
}
