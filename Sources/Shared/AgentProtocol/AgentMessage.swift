/// The guest agent's wire format: one request or response per line, plain
/// ASCII, so that the guest side needs no JSON library.
///
///     request:   <id> <verb> [<argument> ...]\n
///     response:  <id> ok [<key>=<value> ...]\n
///                <id> error <message>\n
///
/// Arguments, values and the error message are percent-encoded (see
/// `PercentEncoding`), so they never contain a space, `=` or a newline.
/// The id is a decimal UInt64 chosen by the host; a response carries the
/// id of its request, so the host can drop answers to requests it gave up on.
public struct AgentRequest: Equatable, Sendable {
    public var id: UInt64
    public var verb: String
    public var arguments: [String]

    public init(id: UInt64, verb: String, arguments: [String] = []) {
        self.id = id
        self.verb = verb
        self.arguments = arguments
    }

    public var line: String {
        ([String(id), PercentEncoding.encode(verb)] + arguments.map(PercentEncoding.encode))
            .joined(separator: " ") + "\n"
    }

    public init(line: some StringProtocol) throws(AgentProtocolError) {
        let words = try splitLine(line)
        guard words.count >= 2, let id = UInt64(words[0]) else {
            throw .malformed(line: String(line), reason: "expected '<id> <verb> [arguments]'")
        }
        self.id = id
        verb = try PercentEncoding.decode(words[1])
        arguments = try words.dropFirst(2).map { (word) throws(AgentProtocolError) in try PercentEncoding.decode(word) }
    }
}

public struct AgentResponse: Equatable, Sendable {
    public enum Outcome: Equatable, Sendable {
        /// Key-value pairs in the order the agent sent them.
        case ok([AgentField])
        case error(String)
    }

    public var id: UInt64
    public var outcome: Outcome

    public init(id: UInt64, outcome: Outcome) {
        self.id = id
        self.outcome = outcome
    }

    public var line: String {
        switch outcome {
        case .ok(let fields):
            return ([String(id), "ok"] + fields.map { "\($0.key)=\(PercentEncoding.encode($0.value))" })
                .joined(separator: " ") + "\n"
        case .error(let message):
            return "\(id) error \(PercentEncoding.encode(message))\n"
        }
    }

    public init(line: some StringProtocol) throws(AgentProtocolError) {
        let words = try splitLine(line)
        guard words.count >= 2, let id = UInt64(words[0]) else {
            throw .malformed(line: String(line), reason: "expected '<id> ok|error ...'")
        }
        self.id = id
        switch words[1] {
        case "ok":
            var fields: [AgentField] = []
            for word in words.dropFirst(2) {
                guard let equals = word.firstIndex(of: "="), equals != word.startIndex else {
                    throw .malformed(line: String(line), reason: "field '\(word)' is not key=value")
                }
                let key = String(word[..<equals])
                guard key.utf8.allSatisfy(isKeyByte) else {
                    throw .malformed(line: String(line), reason: "field key '\(key)' has characters outside [a-z0-9_]")
                }
                fields.append(AgentField(key, try PercentEncoding.decode(word[word.index(after: equals)...])))
            }
            outcome = .ok(fields)
        case "error":
            guard words.count == 3 else {
                throw .malformed(line: String(line), reason: "an error response carries exactly one message")
            }
            outcome = .error(try PercentEncoding.decode(words[2]))
        default:
            throw .malformed(line: String(line), reason: "status must be 'ok' or 'error', got '\(words[1])'")
        }
    }

    /// The value of `key` in an ok response, nil if absent or an error.
    public subscript(key: String) -> String? {
        guard case .ok(let fields) = outcome else { return nil }
        return fields.first { $0.key == key }?.value
    }
}

/// An unsolicited line from the agent: `0 event <name> [<key>=<value> ...]`.
/// Id 0 is never a request's (the host numbers requests from 1), so a host
/// that does not expect events can drop them.
public struct AgentEvent: Equatable, Sendable {
    public static let id: UInt64 = 0
    /// Written by an armed wake-up probe (`arm-wakeup`): `generation`, `monotonic_ns`.
    public static let wakeup = "wakeup"

    public var name: String
    public var fields: [AgentField]

    public init(name: String, fields: [AgentField]) {
        self.name = name
        self.fields = fields
    }

    public var line: String {
        (["0", "event", PercentEncoding.encode(name)] + fields.map { "\($0.key)=\(PercentEncoding.encode($0.value))" })
            .joined(separator: " ") + "\n"
    }

    public init(line: some StringProtocol) throws(AgentProtocolError) {
        let words = try splitLine(line)
        guard words.count >= 3, words[0] == "0", words[1] == "event" else {
            throw .malformed(line: String(line), reason: "expected '0 event <name> [key=value ...]'")
        }
        name = try PercentEncoding.decode(words[2])
        var fields: [AgentField] = []
        for word in words.dropFirst(3) {
            guard let equals = word.firstIndex(of: "="), equals != word.startIndex else {
                throw .malformed(line: String(line), reason: "field '\(word)' is not key=value")
            }
            fields.append(AgentField(String(word[..<equals]), try PercentEncoding.decode(word[word.index(after: equals)...])))
        }
        self.fields = fields
    }

    public subscript(key: String) -> String? {
        fields.first { $0.key == key }?.value
    }
}

public struct AgentField: Equatable, Sendable {
    public var key: String
    public var value: String

    public init(_ key: String, _ value: String) {
        self.key = key
        self.value = value
    }
}

public enum AgentProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed(line: String, reason: String)
    case badEncoding(String)

    public var description: String {
        switch self {
        case let .malformed(line, reason):
            return "malformed agent message (\(excerpt(reason))): \(excerpt(line))"
        case let .badEncoding(word):
            return "bad percent-encoding in agent message: \(excerpt(word))"
        }
    }

    /// At most 200 Unicode scalars of `text`: reasons quote the words of a
    /// line up to 64 KiB, and one Character may hold any number of scalars,
    /// so `prefix(200)` alone bounds nothing.
    private func excerpt(_ text: String) -> String {
        let scalars = text.unicodeScalars
        guard scalars.count > 200 else { return text }
        var cut = String.UnicodeScalarView()
        cut.append(contentsOf: scalars.prefix(200))
        return String(cut) + "…"
    }
}

/// Longest line either side accepts; anything longer is a protocol error.
public let agentMaximumLineLength = 64 * 1024

private func splitLine(_ line: some StringProtocol) throws(AgentProtocolError) -> [Substring] {
    // Unicode scalars, not Characters: "\r\n" is one Character in Swift.
    var text = Substring(line)
    while let last = text.unicodeScalars.last, last == "\n" || last == "\r" {
        text = Substring(text.unicodeScalars.dropLast())
    }
    guard text.utf8.count <= agentMaximumLineLength else {
        throw .malformed(line: String(text.prefix(200)), reason: "line longer than \(agentMaximumLineLength) bytes")
    }
    guard !text.unicodeScalars.contains("\n") else {
        throw .malformed(line: String(text), reason: "embedded newline")
    }
    return text.split(separator: " ", omittingEmptySubsequences: true)
}

private func isKeyByte(_ byte: UInt8) -> Bool {
    (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
        || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_")
}
