import AgentProtocol

/// Answers the host's requests on the agent port, one line at a time.
struct AgentServer {
    let port: AgentPort
    var view = GuestView()

    init(port: AgentPort) {
        self.port = port
    }

    mutating func run() -> Never {
        var pending: [UInt8] = []
        while true {
            do {
                pending += try port.readAvailable(timeoutMilliseconds: 1000)
            } catch {
                log("\(error)")
                continue
            }
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                respond(to: line)
            }
            if pending.count > agentMaximumLineLength {
                log("dropping \(pending.count) bytes without a newline")
                pending.removeAll()
            }
        }
    }

    private mutating func respond(to line: String) {
        let response: AgentResponse
        do {
            let request = try AgentRequest(line: line)
            response = AgentResponse(id: request.id, outcome: handle(request))
        } catch {
            // No id to answer to: say so on the console and carry on.
            log("ignoring request: \(error)")
            return
        }
        do {
            try port.writeAll(response.line)
        } catch {
            log("cannot answer: \(error)")
        }
    }

    private mutating func handle(_ request: AgentRequest) -> AgentResponse.Outcome {
        guard let verb = AgentVerb(rawValue: request.verb) else {
            let known = AgentVerb.allCases.map(\.rawValue).joined(separator: ", ")
            return .error("unknown verb '\(request.verb)'; this agent knows: \(known)")
        }
        switch verb {
        case .ping:
            return .ok([AgentField("agent", "sysgenidd"), AgentField("protocol", String(agentProtocolVersion))])
        case .status:
            return .ok(view.statusFields())
        }
    }
}
