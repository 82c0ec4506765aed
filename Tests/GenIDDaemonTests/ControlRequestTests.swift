import Foundation
import GenIDControl
import Testing
@testable import GenIDDaemon

/// Every argument a control peer sends is checked before genidd uses it.
@Suite struct ControlRequestTests {
    private func checked(_ json: String) throws -> CheckedRequest {
        try ControlCoding.decode(ControlRequest.self, from: Data(json.utf8)).checked()
    }

    private func refusal(_ json: String) -> String? {
        do {
            _ = try checked(json)
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// The request that killed genidd: `Int64(1e300 * 1000)` trapped.
    @Test(arguments: ["1e300", "3600.001", "0", "-0", "-1", "1.7976931348623157e308", "-5e-324"])
    func waitReadyTimeoutsOutsideTheBoundsAreRefused(seconds: String) {
        let error = refusal(#"{"command":"wait-ready","domain":"test","timeoutSeconds":\#(seconds)}"#)
        #expect(error?.contains("'timeoutSeconds' must be more than 0 and at most 3600") == true, "\(seconds)")
    }

    @Test func waitReadyTimeoutsWithinTheBoundsBecomeDurations() throws {
        #expect(try checked(#"{"command":"wait-ready","domain":"d","timeoutSeconds":3600}"#)
                == .waitReady(domain: "d", timeout: .seconds(3600)))
        #expect(try checked(#"{"command":"wait-ready","domain":"d","timeoutSeconds":0.0001}"#)
                == .waitReady(domain: "d", timeout: .milliseconds(1)))
        #expect(try checked(#"{"command":"wait-ready","domain":"d","timeoutSeconds":5e-324}"#)
                == .waitReady(domain: "d", timeout: .milliseconds(1)))
        #expect(try checked(#"{"command":"wait-ready","domain":"d"}"#) == .waitReady(domain: "d", timeout: nil))
    }

    @Test func historyIsPaged() throws {
        #expect(try checked(#"{"command":"history"}"#)
                == .history(domain: nil, page: HistoryPage(limit: 1000, before: nil)))
        #expect(try checked(#"{"command":"history","domain":"d","limit":5,"before":77}"#)
                == .history(domain: "d", page: HistoryPage(limit: 5, before: 77)))
        #expect(refusal(#"{"command":"history","limit":1001}"#)?.contains("'limit' must be 0 to 1000") == true)
        #expect(refusal(#"{"command":"history","limit":-1}"#)?.contains("'limit' must be 0 to 1000") == true)
        #expect(refusal(#"{"command":"history","before":0}"#)?.contains("'before'") == true)
        // Larger than Int64: the decoder refuses it, nothing traps.
        #expect(refusal(#"{"command":"history","limit":99999999999999999999999}"#) != nil)
    }

    @Test(arguments: [
        (#"{"command":"rotate"}"#, "'rotate' needs 'domain'"),
        (#"{"command":"rotate","domain":""}"#, "'domain' is empty"),
        (#"{"command":"revert","domain":"d"}"#, "'revert' needs 'snapshot'"),
        (#"{"command":"status","domain":"a\u001b[2Jb"}"#, "'domain' contains control or format characters"),
        (#"{"command":"status","domain":"web\u202etxt.exe"}"#, "'domain' contains control or format characters"),
        (#"{"command":"notify","domain":"d"}"#, "'notify' needs 'event'"),
        (#"{"command":"status","timeoutSeconds":5}"#, "'status' takes no 'timeoutSeconds'"),
        (#"{"command":"rotate","domain":"d","snapshot":"s"}"#, "'rotate' takes no 'snapshot'"),
    ])
    func missingMalformedOrMisdirectedArgumentsAreRefused(json: String, expected: String) {
        #expect(refusal(json)?.contains(expected) == true, "\(json): \(refusal(json) ?? "accepted")")
    }

    @Test func namesAreBounded() {
        let long = String(repeating: "a", count: ControlLimits.maximumNameBytes + 1)
        #expect(refusal(#"{"command":"rotate","domain":"\#(long)"}"#)?.contains("longer than 1024 bytes") == true)
        let fits = String(repeating: "a", count: ControlLimits.maximumNameBytes)
        #expect(refusal(#"{"command":"rotate","domain":"\#(fits)"}"#) == nil)
    }

    @Test func readersMayOnlyRead() {
        #expect(ControlRequest.Command.allCases.filter { $0.requiredRole == .reader }.map(\.rawValue).sorted()
                == ["history", "status", "wait-ready"])
        #expect(ControlRole.reader < ControlRole.operator)
    }
}

@Suite struct ControlAccessTests {
    let peer = PeerCredentials(pid: 1, uid: 1000, gid: 1000, groups: [])

    @Test func rootIsAlwaysAnOperator() {
        #expect(ControlAccess().role(of: PeerCredentials(pid: 1, uid: 0, gid: 0, groups: [])) == .operator)
    }

    @Test func othersNeedAGroup() {
        #expect(ControlAccess().role(of: peer) == nil)
        #expect(ControlAccess(controlGroupID: 500).role(of: peer) == nil)
        #expect(ControlAccess(controlGroupID: 1000).role(of: peer) == .operator)
        var member = peer
        member.groups = [27, 500]
        #expect(ControlAccess(controlGroupID: 500).role(of: member) == .operator)
        #expect(ControlAccess(readOnlyGroupID: 27).role(of: member) == .reader)
        #expect(ControlAccess(controlGroupID: 500, readOnlyGroupID: 27).role(of: member) == .operator)
    }

    @Test func theSocketFileFollowsTheGroups() {
        #expect(ControlAccess().socketFile == (nil, 0o600))
        #expect(ControlAccess(controlGroupID: 5).socketFile == (5, 0o660))
        #expect(ControlAccess(readOnlyGroupID: 6).socketFile == (6, 0o660))
        #expect(ControlAccess(controlGroupID: 5, readOnlyGroupID: 6).socketFile == (nil, 0o666))
    }
}

@Suite struct ConnectionLimitsTests {
    @Test func eachUserHasAShareAndRootOnlyTheTotal() throws {
        let limits = ConnectionLimits(total: 4, perUser: 2)
        var held = [try limits.admit(uid: 1000).get(), try limits.admit(uid: 1000).get()]
        #expect(throws: ConnectionLimits.Refusal.self) { try limits.admit(uid: 1000).get() }
        held += [try limits.admit(uid: 0).get(), try limits.admit(uid: 0).get()]
        #expect(throws: ConnectionLimits.Refusal.self) { try limits.admit(uid: 1001).get() }
        held[0].release()
        held[0].release()  // once only
        #expect(limits.current == 3)
        held.append(try limits.admit(uid: 1001).get())
        #expect(limits.current == 4)
        held.removeAll()  // an admission dropped gives its place back
        #expect(limits.current == 0)
    }

    /// Readers from many uids cannot take the last places: root and the
    /// operators still get in.
    @Test func theLastPlacesAreKeptForOperators() throws {
        let limits = ConnectionLimits(total: 4, perUser: 1, reserved: 2)
        let readers = [try limits.admit(uid: 1000, privileged: false).get(),
                       try limits.admit(uid: 1001, privileged: false).get()]
        #expect(throws: ConnectionLimits.Refusal.self) { try limits.admit(uid: 1002, privileged: false).get() }
        let operators = [try limits.admit(uid: 0).get(), try limits.admit(uid: 1003, privileged: true).get()]
        #expect(throws: ConnectionLimits.Refusal.self) { try limits.admit(uid: 0).get() }
        #expect(readers.count + operators.count == limits.current)
    }

    @Test func backoffGrowsToASecondAndEndsAnEpisodeOnce() {
        var backoff = AcceptBackoff()
        var pauses: [Duration] = []
        for _ in 0..<12 { pauses.append(backoff.failed()) }
        #expect(pauses.prefix(3) == [.milliseconds(50), .milliseconds(100), .milliseconds(200)])
        #expect(pauses.last == .milliseconds(1000))
        let ended = backoff.succeeded()
        let endedAgain = backoff.succeeded()
        #expect(ended && !endedAgain)
        #expect(AcceptBackoff.isTransient(EMFILE) && !AcceptBackoff.isTransient(EBADF))
    }
}

@Suite struct DescriptorBudgetTests {
    @Test func theServersTakeAtMostAQuarterOfTheLimit() {
        for limit in [16, 64, 128, 1024, 4096, 65536, 1 << 20] {
            let budget = DescriptorBudget(limit: limit)
            #expect(budget.controlConnections + budget.metricsConnections <= max(6, limit / 4), "\(limit)")
            #expect(budget.controlConnectionsPerUser <= budget.controlConnections)
        }
        #expect(DescriptorBudget(limit: 65536).controlConnections == 128)
        #expect(DescriptorBudget(limit: 65536).controlConnectionsPerUser == 16)
        #expect(DescriptorBudget(limit: 65536).metricsConnections == 64)
    }
}

@Suite struct PrintableTextTests {
    @Test func controlCharactersBecomeVisibleEscapes() {
        #expect(PrintableText.escaped("web-1 ready") == "web-1 ready")
        #expect(PrintableText.escaped("a\nb\tc\rd") == "a\\nb\\tc\\rd")
        #expect(PrintableText.escaped("\u{1B}[2J\u{7F}\u{9B}") == "\\u{1B}[2J\\u{7F}\\u{9B}")
        #expect(PrintableText.escaped("C:\\x\n") == "C:\\\\x\\n")
        #expect(PrintableText.escaped("Zürich ✓") == "Zürich ✓")
        #expect(PrintableText.escaped("a\u{202E}b\u{2028}c") == "a\\u{202E}b\\u{2028}c")
    }
}
