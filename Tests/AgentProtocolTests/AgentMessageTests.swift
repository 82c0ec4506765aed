import Testing
@testable import AgentProtocol

@Suite struct AgentMessageTests {
    @Test func requestRoundTrip() throws {
        let request = AgentRequest(id: 42, verb: "status", arguments: ["a b", "", "x=y%"])
        #expect(request.line == "42 status a%20b % x%3Dy%25\n")
        #expect(try AgentRequest(line: request.line) == request)
    }

    @Test func okResponseRoundTrip() throws {
        let response = AgentResponse(id: 7, outcome: .ok([
            AgentField("kernel_release", "6.1.0-56-amd64"),
            AgentField("vmgenid_error", "open /dev/mem: Operation not permitted (errno 1)"),
            AgentField("empty", ""),
        ]))
        let parsed = try AgentResponse(line: response.line)
        #expect(parsed == response)
        #expect(parsed["kernel_release"] == "6.1.0-56-amd64")
        #expect(parsed["empty"] == "")
        #expect(parsed["absent"] == nil)
    }

    @Test func errorResponseRoundTrip() throws {
        let response = AgentResponse(id: 3, outcome: .error("unknown verb 'x'\nsecond line"))
        #expect(!response.line.dropLast().contains("\n"))
        #expect(try AgentResponse(line: response.line) == response)
    }

    @Test func eventRoundTrip() throws {
        let event = AgentEvent(name: AgentEvent.wakeup,
                               fields: [AgentField("generation", "3"), AgentField("monotonic_ns", "123456789")])
        #expect(event.line == "0 event wakeup generation=3 monotonic_ns=123456789\n")
        let parsed = try AgentEvent(line: event.line)
        #expect(parsed == event)
        #expect(parsed["generation"] == "3")
        // Not a response: a host that only reads responses drops it.
        #expect(throws: AgentProtocolError.self) { try AgentResponse(line: event.line) }
        #expect(throws: AgentProtocolError.self) { try AgentEvent(line: "1 ok a=1") }
    }

    @Test func toleratesCarriageReturnAndExtraSpaces() throws {
        let response = try AgentResponse(line: "9  ok  a=1   b=2\r\n")
        #expect(response["a"] == "1")
        #expect(response["b"] == "2")
    }

    @Test func nonASCIIAndControlCharactersSurvive() throws {
        let text = "grüße\u{0}\t\u{7f}=%"
        let request = AgentRequest(id: 1, verb: "ping", arguments: [text])
        #expect(request.line.utf8.allSatisfy { $0 < 0x80 })
        #expect(try AgentRequest(line: request.line).arguments == [text])
    }

    @Test(arguments: [
        "", "\n", "ok a=1", "x ok", "-1 ok", "1", "1 maybe", "1 ok novalue", "1 ok =v", "1 ok A=1",
        "1 error", "1 error two words", "1 ok a=%zz", "1 ok a=%4", "18446744073709551616 ok",
    ])
    func malformedResponsesAreErrors(_ line: String) {
        #expect(throws: AgentProtocolError.self) { try AgentResponse(line: line) }
    }

    @Test(arguments: ["", "7", "x ping", "1 pi%g"])
    func malformedRequestsAreErrors(_ line: String) {
        #expect(throws: AgentProtocolError.self) { try AgentRequest(line: line) }
    }

    @Test func overlongLinesAreRejected() {
        let line = "1 ok a=" + String(repeating: "x", count: agentMaximumLineLength)
        #expect(throws: AgentProtocolError.self) { try AgentResponse(line: line) }
    }

    /// Found by the agent-message fuzz target's bound: a refusal quoted the
    /// whole offending word (3 KB here, up to 64 KiB), and `prefix(200)`
    /// of a line whose one Character holds thousands of combining marks is
    /// that whole line.
    @Test(arguments: ["1 ok " + String(repeating: "x", count: 3000),
                      "1 ok a" + String(repeating: "\u{301}", count: 3000)])
    func refusalsQuoteABoundedExcerpt(_ line: String) {
        do {
            _ = try AgentResponse(line: line)
            Issue.record("accepted")
        } catch {
            #expect(error.description.utf8.count <= 2048)
        }
    }

    @Test func hostSortsLinesIntoEventsResponsesAndDropped() {
        #expect(AgentIncoming(line: "0 event wakeup generation=3") ==
            .event(AgentEvent(name: "wakeup", fields: [AgentField("generation", "3")])))
        #expect(AgentIncoming(line: "2 ok a=1") == .response(AgentResponse(id: 2, outcome: .ok([AgentField("a", "1")]))))
        #expect(AgentIncoming(line: "0 event %G") == .dropped)
        #expect(AgentIncoming(line: "2 maybe") == .dropped)
    }
}

@Suite struct LineEndingTests {
    @Test func embeddedCarriageReturnNewlineIsRejected() {
        #expect(throws: AgentProtocolError.self) { try AgentResponse(line: "1 ok a=1\r\n2 ok b=2") }
    }
}
