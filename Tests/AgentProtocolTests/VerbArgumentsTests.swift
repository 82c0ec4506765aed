import AgentProtocol
import Testing

/// The sysgenid verbs' arguments, parsed by the agent as it always did and
/// built by hosts from the same types.
@Suite struct VerbArgumentsTests {
    @Test func waitWatchers() {
        #expect(WaitWatchersArguments(["0"]) == WaitWatchersArguments(timeoutMilliseconds: 0))
        #expect(WaitWatchersArguments(["4294967295"])?.timeoutMilliseconds == .max)
        for bad in [[], ["-1"], ["4294967296"], ["x"], ["1", "2"]] { #expect(WaitWatchersArguments(bad) == nil, "\(bad)") }
    }

    @Test func conformance() {
        #expect(ConformanceArguments(["module"]) == ConformanceArguments(suite: .device, fresh: false))
        #expect(ConformanceArguments(["userspace", "fresh"])?.arguments == ["userspace", "fresh"])
        for bad in [[], ["kernel"], ["device", "stale"], ["device", "fresh", "x"]] {
            #expect(ConformanceArguments(bad) == nil, "\(bad)")
        }
    }

    @Test func bench() {
        #expect(BenchArguments([]) == BenchArguments(mmapLoads: 100_000, reads: 2_000))
        #expect(BenchArguments(["5"]) == BenchArguments(mmapLoads: 5, reads: 2_000))
        #expect(BenchArguments(["5", "100000000"])?.arguments == ["5", "100000000"])
        for bad in [["0"], ["100000001"], ["-3"], ["x"], ["1", "2", "3"]] { #expect(BenchArguments(bad) == nil, "\(bad)") }
    }
}
