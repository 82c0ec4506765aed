import Foundation
import Testing
@testable import GenerationLedger

/// Two `GenerationLedger` instances on one file are two SQLite connections
/// locking the file exactly as two processes would.
@Suite("Several writers on one ledger file")
struct ConcurrencyTests {
    @Test func racingIssueFreshFromATinyPoolNeverDuplicates() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("ledger.sqlite")
        let ledgers = [try GenerationLedger(path: path), try GenerationLedger(path: path)]
        let pool = (0..<500).map { _ in randomValue() }
        let callsPerWriter = 200

        struct Outcome { var issued: [String] = []; var exhausted = 0; var otherErrors: [String] = [] }
        let outcome = Locked(Outcome())
        onThreads(2) { writer in
            let ledger = ledgers[writer]
            for call in 0..<callsPerWriter {
                do {
                    let record = try ledger.issueFresh(vm: "vm-\(writer)", event: "rotate", detail: "call \(call)") {
                        pool.randomElement()!
                    }
                    outcome.withLock { $0.issued.append(record.value) }
                } catch LedgerError.noFreshValue {
                    outcome.withLock { $0.exhausted += 1 }
                } catch {
                    outcome.withLock { $0.otherErrors.append("\(error)") }
                }
            }
        }

        let result = outcome.value
        #expect(result.otherErrors.isEmpty)
        #expect(result.issued.count + result.exhausted == 2 * callsPerWriter)
        #expect(Set(result.issued).count == result.issued.count)
        // Collisions were certain: 400 draws from 500 values.
        #expect(result.issued.count > 300)

        for ledger in ledgers + [try GenerationLedger(path: path)] {
            #expect(try ledger.duplicateValues().isEmpty)
            let history = try ledger.history()
            #expect(history.count == result.issued.count)
            #expect(Set(history.map(\.value)) == Set(result.issued))
            #expect(Set(history.map(\.value)).isSubset(of: Set(pool)))
        }
    }

    @Test func racingForTheSameValueExactlyOneWins() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("ledger.sqlite")
        let ledgers = [try GenerationLedger(path: path), try GenerationLedger(path: path)]
        let values = (0..<100).map { _ in randomValue() }

        let wins = Locked([[String]](repeating: [], count: 2))
        let losses = Locked([[LedgerError]](repeating: [], count: 2))
        let otherErrors = Locked([String]())
        onThreads(2) { writer in
            for value in values {
                do {
                    try ledgers[writer].record(vm: "vm-\(writer)", value: value, event: "clone")
                    wins.withLock { $0[writer].append(value) }
                } catch let error as LedgerError {
                    if case .valueAlreadyIssued = error {
                        losses.withLock { $0[writer].append(error) }
                    } else {
                        otherErrors.withLock { $0.append("\(error)") }
                    }
                } catch {
                    otherErrors.withLock { $0.append("\(error)") }
                }
            }
        }

        #expect(otherErrors.value.isEmpty)
        let won = wins.value
        #expect(Set(won[0]).isDisjoint(with: Set(won[1])))
        #expect(Set(won[0]).union(won[1]) == Set(values))
        #expect(losses.value[0].count + losses.value[1].count == values.count)
        // Every loser is told who won.
        for (writer, errors) in losses.value.enumerated() {
            for case let .valueAlreadyIssued(value, ownerVM, event) in errors {
                #expect(ownerVM == "vm-\(1 - writer)" && event == "clone" && won[1 - writer].contains(value))
            }
        }
        let ledger = try GenerationLedger(path: path)
        #expect(try ledger.history().count == values.count)
        #expect(try ledger.duplicateValues().isEmpty)
    }

    @Test func concurrentFirstOpensOfANewLedgerAllSucceed() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        for round in 0..<10 {
            let path = directory.file("round-\(round)/ledger.sqlite")
            let errors = Locked([String]())
            onThreads(3) { writer in
                do {
                    let ledger = try GenerationLedger(path: path)
                    try ledger.record(vm: "vm-\(writer)", value: randomValue(), event: "boot")
                    try ledger.audit(vm: "vm-\(writer)", kind: "check", message: "opened")
                } catch {
                    errors.withLock { $0.append("\(error)") }
                }
            }
            #expect(errors.value.isEmpty, "round \(round)")
            let ledger = try GenerationLedger(path: path)
            #expect(try ledger.vms() == ["vm-0", "vm-1", "vm-2"])
            #expect(try ledger.auditTrail().count == 3)
        }
    }
}
