/// What one line from the agent is to the host: an unsolicited event (id
/// 0), a response, or neither, which the host drops. This is all the
/// parsing the host does of what a guest sends (`AgentClient`); the
/// `agent-message` fuzz target runs it on hostile lines.
public enum AgentIncoming: Equatable, Sendable {
    case event(AgentEvent)
    case response(AgentResponse)
    case dropped

    public init(line: some StringProtocol) {
        if line.hasPrefix("0 event "), let event = try? AgentEvent(line: line) {
            self = .event(event)
        } else if let response = try? AgentResponse(line: line) {
            self = .response(response)
        } else {
            self = .dropped  // not ours to answer
        }
    }
}
