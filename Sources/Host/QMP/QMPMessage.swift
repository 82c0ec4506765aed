import Foundation

/// QEMU's greeting: `{"QMP": {"version": {"qemu": {...}, "package": "..."}, "capabilities": [...]}}`.
public struct QMPGreeting: Sendable, Equatable {
    /// The QEMU version; `"\(greeting.version)"` is e.g. `"7.2.0"`.
    public var version: Version
    /// The distribution's package string, e.g. `"Debian 1:7.2+dfsg-7+deb12u6"`; may be empty.
    public var package: String
    /// Capabilities QEMU offers, e.g. `["oob"]`. The client enables none of them.
    public var capabilities: [String]

    public init(version: Version, package: String = "", capabilities: [String] = []) {
        self.version = version
        self.package = package
        self.capabilities = capabilities
    }

    public struct Version: Sendable, Hashable, Comparable, CustomStringConvertible {
        public var major: Int
        public var minor: Int
        public var micro: Int

        public init(major: Int, minor: Int, micro: Int) {
            self.major = major
            self.minor = minor
            self.micro = micro
        }

        /// `"major.minor.micro"`, e.g. `"7.2.0"`.
        public var description: String { "\(major).\(minor).\(micro)" }

        public static func < (lhs: Self, rhs: Self) -> Bool {
            (lhs.major, lhs.minor, lhs.micro) < (rhs.major, rhs.minor, rhs.micro)
        }
    }
}

/// One message from QEMU, parsed from one line. Pure: no I/O.
public enum QMPMessage: Sendable, Equatable {
    case greeting(QMPGreeting)
    /// `{"return": VALUE, "id": ID}`; `id` is `nil` when QEMU sent none.
    case success(id: JSONValue?, value: JSONValue)
    /// `{"error": {"class": C, "desc": D}, "id": ID}`.
    case failure(id: JSONValue?, errorClass: String, description: String)
    case event(QMPEvent)

    /// The `id` of a reply; `nil` for a greeting, an event, or a reply without id.
    public var id: JSONValue? {
        switch self {
        case .success(let id, _), .failure(let id, _, _): return id
        case .greeting, .event: return nil
        }
    }

    /// Parses one line (without its terminator; surrounding whitespace is allowed).
    ///
    /// Never traps: anything that is not one QMP message (invalid JSON or
    /// UTF-8, a top-level non-object, missing or mistyped members, numbers out
    /// of range, nesting beyond Foundation's limit) throws
    /// ``QMPError/malformedMessage(text:reason:)`` with an excerpt of the line.
    public static func parse(_ line: some Collection<UInt8>) throws(QMPError) -> QMPMessage {
        func malformed(_ reason: String) -> QMPError {
            .malformedMessage(text: QMPError.excerpt(bytes: line), reason: reason)
        }
        let value: JSONValue
        do {
            value = try JSONValue(parsing: Array(line))
        } catch {
            throw malformed("not valid JSON")
        }
        guard case .object(let members) = value else {
            throw malformed("not a JSON object")
        }
        if let greeting = members["QMP"] {
            guard let parsed = parseGreeting(greeting) else {
                throw malformed("greeting without a valid version")
            }
            return .greeting(parsed)
        }
        let id = members["id"]
        if let value = members["return"] {
            return .success(id: id, value: value)
        }
        if let error = members["error"] {
            guard let errorClass = error["class"]?.stringValue, let description = error["desc"]?.stringValue else {
                throw malformed("error without string members 'class' and 'desc'")
            }
            return .failure(id: id, errorClass: errorClass, description: description)
        }
        if let name = members["event"] {
            guard let name = name.stringValue else { throw malformed("event name is not a string") }
            return .event(QMPEvent(name: name, data: members["data"] ?? .object([:]),
                                   timestamp: parseTimestamp(members["timestamp"])))
        }
        throw malformed("none of 'QMP', 'return', 'error' or 'event'")
    }

    private static func parseGreeting(_ value: JSONValue) -> QMPGreeting? {
        guard let qemu = value["version"]?["qemu"],
              let major = qemu["major"]?.intValue,
              let minor = qemu["minor"]?.intValue,
              let micro = qemu["micro"]?.intValue
        else { return nil }
        let capabilities = value["capabilities"]?.arrayValue?.compactMap(\.stringValue) ?? []
        return QMPGreeting(version: .init(major: major, minor: minor, micro: micro),
                           package: value["version"]?["package"]?.stringValue ?? "",
                           capabilities: capabilities)
    }

    private static func parseTimestamp(_ value: JSONValue?) -> QMPEvent.Timestamp? {
        guard case .int(let seconds)? = value?["seconds"], case .int(let micros)? = value?["microseconds"] else {
            return nil
        }
        return QMPEvent.Timestamp(seconds: seconds, microseconds: micros)
    }
}
