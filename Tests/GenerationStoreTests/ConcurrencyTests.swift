import Foundation
import Testing
import GenerationStore
import SQLiteGenerationStore
import VMGenID

/// Two `SQLiteGenerationStore` instances on one file are two SQLite connections
/// locking the file exactly as two processes would.
@Suite("Several writers on one ledger file")
struct ConcurrencyTests {
    @Test func racingIssueFreshFromATinyPoolNeverDuplicates() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("ledger.sqlite")
        let ledgers = [try SQLiteGenerationStore(path: path), try SQLiteGenerationStore(path: path)]
        let pool = (0..<500).map { _ in GenerationID.random() }
        let callsPerWriter = 200

        struct Outcome { var issued: [GenerationID] = []; var exhausted = 0; var otherErrors: [String] = [] }
        let outcome = Locked(Outcome())
        await concurrently(2) { writer in
            let ledger = ledgers[writer]
            for call in 0..<callsPerWriter {
                do {
                    let record = try await ledger.issueFresh(for: VMIdentity(name: "vm-\(writer)"), event: "rotate",
                                                             detail: "call \(call)") { pool.randomElement()! }
                    outcome.withLock { $0.issued.append(record.value) }
                } catch StoreError.noFreshValue {
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

        for ledger in ledgers + [try SQLiteGenerationStore(path: path)] {
            #expect(try await ledger.duplicateValues().isEmpty)
            let history = try await ledger.history()
            #expect(history.count == result.issued.count)
            #expect(Set(history.map(\.value)) == Set(result.issued))
            #expect(Set(history.map(\.value)).isSubset(of: Set(pool)))
        }
    }

    @Test func racingForTheSameValueExactlyOneWins() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("ledger.sqlite")
        let ledgers = [try SQLiteGenerationStore(path: path), try SQLiteGenerationStore(path: path)]
        let values = (0..<100).map { _ in GenerationID.random() }

        let wins = Locked([[GenerationID]](repeating: [], count: 2))
        let losses = Locked([[GenerationRecord]](repeating: [], count: 2))
        let otherErrors = Locked([String]())
        await concurrently(2) { writer in
            for value in values {
                do {
                    let ledger = ledgers[writer]
                    try await ledger.record(value, for: VMIdentity(name: "vm-\(writer)"), role: .live,
                                            event: "clone", detail: nil, origin: .issued)
                    wins.withLock { $0[writer].append(value) }
                } catch StoreError.valueAlreadyRecorded(let owner) {
                    losses.withLock { $0[writer].append(owner) }
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
        for (writer, owners) in losses.value.enumerated() {
            for owner in owners {
                #expect(owner.vm.name == "vm-\(1 - writer)" && owner.event == "clone" && won[1 - writer].contains(owner.value))
            }
        }
        let ledger = try SQLiteGenerationStore(path: path)
        #expect(try await ledger.history().count == values.count)
        #expect(try await ledger.duplicateValues().isEmpty)
    }

    @Test func concurrentFirstOpensOfANewLedgerAllSucceed() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        for round in 0..<10 {
            let path = directory.file("round-\(round)/ledger.sqlite")
            let errors = Locked([String]())
            await concurrently(3) { writer in
                do {
                    let ledger = try SQLiteGenerationStore(path: path)
                    let vm = VMIdentity(name: "vm-\(writer)")
                    _ = try await ledger.issueFresh(for: vm, event: "boot")
                    try await ledger.audit(vm, kind: "check", message: "opened")
                } catch {
                    errors.withLock { $0.append("\(error)") }
                }
            }
            #expect(errors.value.isEmpty, "round \(round)")
            let ledger = try SQLiteGenerationStore(path: path)
            #expect(Set(try await ledger.history().map(\.vm.name)) == ["vm-0", "vm-1", "vm-2"])
            #expect(try await ledger.auditTrail(vm: nil, limit: nil).count == 3)
        }
    }
}
