#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Everything that can go wrong talking to QEMU over QMP.
public enum QMPError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The UNIX socket could not be connected. `errno` is set when the system
    /// said why (`ENOENT`: no socket yet; `ECONNREFUSED`: nobody listens).
    case connectionFailed(path: String, errno: Int32?, description: String)
    /// The peer accepted the connection but sent no greeting in time.
    case noGreeting(path: String, seconds: Double)
    /// The first message was not `{"QMP": ...}`.
    case notQMPGreeting(received: String)
    /// `qmp_capabilities` was refused.
    case capabilitiesNegotiationFailed(reason: String)
    /// QEMU answered the command with `{"error": ...}`.
    case commandFailed(command: String, errorClass: String, description: String)
    /// No reply within the command's timeout. A late reply is dropped.
    case timeout(command: String, seconds: Double)
    /// No matching event within the timeout of `waitForEvent`.
    case eventTimeout(event: String, seconds: Double)
    /// The connection is closed (QEMU exited, or `close()` was called).
    /// `command` names the command that was waiting for its reply, if any.
    case connectionClosed(command: String?)
    /// A message that is not valid QMP. `text` is truncated to about 200 characters.
    case malformedMessage(text: String, reason: String)
    /// The arguments could not be encoded as JSON (a NaN or infinite number).
    case invalidArguments(command: String, reason: String)
    /// The command succeeded but its return value was not of the expected shape.
    case unexpectedReturn(command: String, value: String, reason: String)

    public var description: String {
        switch self {
        case .connectionFailed(let path, let code, let description):
            var text = "cannot connect to the QMP socket \(path): \(description)"
            switch code {
            case ENOENT?: text += " (the socket does not exist yet: is QEMU started with -chardev socket,path=\(path),server=on?)"
            case ECONNREFUSED?: text += " (nobody listens on it: QEMU has exited or not started listening yet)"
            case EACCES?: text += " (permission denied: check the socket's owner and mode)"
            default: break
            }
            return text
        case .noGreeting(let path, let seconds):
            return "\(path) accepted the connection but sent no QMP greeting within \(Self.format(seconds)) s"
                + " (another client may hold the monitor, since QEMU serves one client per QMP monitor at a time;"
                + " or the socket is not a QMP monitor)"
        case .notQMPGreeting(let received):
            return "the peer's first message is not a QMP greeting: \(received)"
                + " (is it a QMP monitor, -mon chardev=...,mode=control, rather than HMP or a serial port?)"
        case .capabilitiesNegotiationFailed(let reason):
            return "QMP capabilities negotiation failed: \(reason)"
        case .commandFailed(let command, let errorClass, let description):
            return "QMP command '\(command)' failed: \(errorClass): \(description)"
        case .timeout(let command, let seconds):
            return "QMP command '\(command)' got no reply within \(Self.format(seconds)) s (QEMU may be hung or very busy)"
        case .eventTimeout(let event, let seconds):
            return "no QMP event '\(event)' within \(Self.format(seconds)) s"
        case .connectionClosed(let command?):
            return "the QMP connection closed before command '\(command)' got a reply (QEMU exited, or the client was closed)"
        case .connectionClosed(nil):
            return "the QMP connection is closed (QEMU exited, or the client was closed)"
        case .malformedMessage(let text, let reason):
            return "malformed QMP message (\(reason)): \(text)"
        case .invalidArguments(let command, let reason):
            return "cannot encode the arguments of QMP command '\(command)': \(reason)"
        case .unexpectedReturn(let command, let value, let reason):
            return "QMP command '\(command)' returned an unexpected value (\(reason)): \(value)"
        }
    }

    /// `text` cut to at most `limit` characters, with an ellipsis and the full length when cut.
    static func excerpt(_ text: String, limit: Int = 200) -> String {
        guard text.count > limit else { return text }
        return String(text.prefix(limit)) + "… (\(text.utf8.count) bytes)"
    }

    /// The bytes as text (invalid UTF-8 replaced), cut like `excerpt(_:limit:)`.
    static func excerpt(bytes: some Collection<UInt8>, limit: Int = 200) -> String {
        // Decode only a prefix: a line may be megabytes long.
        let head = String(decoding: bytes.prefix(limit * 4), as: UTF8.self)
        guard bytes.count > limit * 4 || head.count > limit else { return head }
        return String(head.prefix(limit)) + "… (\(bytes.count) bytes)"
    }

    private static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() && abs(seconds) < 1e9 ? String(Int(seconds)) : String(seconds)
    }
}

extension Duration {
    /// The duration in seconds, for error messages.
    var qmpSeconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
