/// Why a request to the guest agent did not get an answer.
public enum AgentClientError: Error, Sendable, CustomStringConvertible {
    /// No answer within the time limit (the guest may be busy, paused or gone).
    case timeout(verb: String, seconds: Double)
    /// The agent answered with an error.
    case refused(verb: String, message: String)
    /// The connection closed, or a line broke the protocol.
    case protocolViolation(String)

    public var description: String {
        switch self {
        case let .timeout(verb, seconds):
            "the guest agent did not answer '\(verb)' within \(seconds) s"
        case let .refused(verb, message):
            "the guest agent refused '\(verb)': \(message)"
        case let .protocolViolation(message):
            "guest agent protocol error: \(message)"
        }
    }
}
