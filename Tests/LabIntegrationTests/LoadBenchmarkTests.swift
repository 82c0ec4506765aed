import GenIDLab
import Testing

extension LabIntegration {
    /// `genid-lab bench load`, small: a burst of lifecycle events through a
    /// private libvirtd (libvirt's test driver) while two clients poll
    /// genidd. Not its timings: that nothing is lost, nothing is decided
    /// twice, the clients are answered and the ledger holds.
    @Suite struct LoadBenchmarkTests {
        @Test func everyEventIsDecidedOnceAndTheLedgerHolds() async throws {
            let result = try await LabProcess.runBenchmark(["load", "--domains", "12", "--events", "300"],
                                                           as: LoadBenchmark.Result.self)
            #expect(result.domains == 12)
            #expect(Set(result.operations.keys) == ["start", "revert", "define-copy", "undefine"])
            #expect(result.eventsWitnessed >= 300)
            #expect(result.eventsCausedByGenidd > 0, "genidd gave the copies new values")
            #expect(result.eventsLost == 0 && result.eventsDecidedTwice == 0)
            #expect(result.eventsDecided == result.eventsWitnessed)
            #expect(result.ledgerConsistent, "\(result.ledgerCheck)")
            #expect(result.polls["status", default: 0] > 0 && result.polls["history", default: 0] > 0)
            #expect(result.pollFailures.isEmpty)
        }
    }
}
