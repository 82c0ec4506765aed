import Testing
@testable import AgentProtocol

@Suite struct ReadinessVerbTests {
    @Test func verbNamesAreTheProtocols() {
        #expect(AgentVerb.waitReady.rawValue == "wait-ready")
        #expect(AgentVerb.slowWatcher.rawValue == "slow-watcher")
        #expect(AgentVerb(rawValue: "wait-ready") == .waitReady)
        #expect(AgentVerb(rawValue: "slow-watcher") == .slowWatcher)
        #expect(AgentVerb.allCases.contains(.waitReady) && AgentVerb.allCases.contains(.slowWatcher))
    }

    @Test func fieldNamesAndPortName() {
        #expect(AgentReadinessField.generationMilliseconds == "generation_ms")
        #expect(AgentReadinessField.watcher == "watcher")
        #expect(AgentReadinessField.slowWatchers == "slow_watchers")
        #expect(agentTimedOutPrefix == "ETIMEDOUT")
        #expect(genidAgentPortName == "org.genid.genidd.0")
        #expect(genidAgentPortName != agentPortName)
    }

    @Test func waitReadyArgumentsRoundTripThroughARequest() throws {
        let arguments = WaitReadyArguments(value: "5a67d7c6-9ab9-449b-a758-be75b197648d", timeoutMilliseconds: 20000)
        let request = AgentRequest(id: 5, verb: AgentVerb.waitReady.rawValue, arguments: arguments.arguments)
        #expect(request.line == "5 wait-ready 5a67d7c6-9ab9-449b-a758-be75b197648d 20000\n")
        let parsed = try AgentRequest(line: request.line)
        #expect(WaitReadyArguments(parsed.arguments) == arguments)
        #expect(WaitReadyArguments(["x", "0"])?.timeoutMilliseconds == 0, "0 = no timeout")
    }

    @Test(arguments: [[], ["v"], ["v", "1", "2"], ["v", "-1"], ["v", "+5"], ["v", "1.5"], ["v", ""],
                      ["v", "4294967296"]])
    func malformedWaitReadyArgumentsAreRejected(_ arguments: [String]) {
        #expect(WaitReadyArguments(arguments) == nil)
    }

    @Test func slowWatcherArguments() {
        #expect(SlowWatcherArguments(["2000"])?.ackDelayMilliseconds == 2000)
        #expect(SlowWatcherArguments(["0"])?.ackDelayMilliseconds == 0)
        #expect(SlowWatcherArguments(ackDelayMilliseconds: 7).arguments == ["7"])
        for bad in [[], ["2000", "1"], ["-1"], ["x"], ["+1"], [String(SlowWatcherArguments.maximumDelayMilliseconds + 1)]] {
            #expect(SlowWatcherArguments(bad) == nil, "\(bad)")
        }
    }

    @Test func readinessResponsesParse() throws {
        let ok = try AgentResponse(line: "9 ok elapsed_ms=2104 generation_ms=96 sysgenid_counter=2\n")
        #expect(ok[AgentSysGenIDField.elapsedMilliseconds] == "2104")
        #expect(ok[AgentReadinessField.generationMilliseconds] == "96")
        #expect(ok[AgentStatusField.sysgenidCounter] == "2")
        let timedOut = AgentResponse(id: 10, outcome: .error("ETIMEDOUT value 5a67d7c6-9ab9-449b-a758-be75b197648d not processed yet"))
        guard case .error(let message) = try AgentResponse(line: timedOut.line).outcome else {
            Issue.record("not an error")
            return
        }
        #expect(message.hasPrefix(agentTimedOutPrefix + " value "))
    }
}
