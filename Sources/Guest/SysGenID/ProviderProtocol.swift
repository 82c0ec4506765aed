/// The userspace provider's socket protocol (`/run/sysgenid/sysgenid.sock`).
///
/// One connection is one open file: it gets its own acknowledged copy at
/// connect time and its own tracking flag, and closing it is `close()`.
/// Lines of ASCII words, one request at a time, each answered by one reply:
///
///     request:  <verb> [<argument> ...]\n
///     reply:    ok [<key>=<value> ...]\n
///               err <ERRNO-NAME> [<message words>]\n
///     event:    event SYSGENID=<counter>\n     (only after `subscribe`)
///
/// Verbs mirror the device's calls; numbers are decimal (ioctl requests
/// may be 0x-hex):
///
/// | request | device call | reply |
/// |---|---|---|
/// | `hello` | — | `ok provider=sysgenidd protocol=1 counter=N page=PATH` |
/// | `read <n> [nonblock]` | `read(fd, buf, n)` | `ok bytes=0` or `ok bytes=4 counter=N`; EINVAL (n<4), EAGAIN; blocks otherwise |
/// | `write <hex>\|-` | `write(fd, buf, n)` | `ok bytes=4`; ENOBUFS (n != 4), EINVAL (not the counter) |
/// | `ack <n>` | `write` of a native-endian u32 | as `write` |
/// | `poll <ms>` | `poll(POLLIN, ms)`, -1 = forever | `ok readable=1\|0` |
/// | `track <arg>` | `ioctl(SET_WATCHER_TRACKING, arg)` | `ok` |
/// | `wait <ms>` | `ioctl(WAIT_WATCHERS, ms)` | `ok`; ETIME, EINTR |
/// | `trigger <min>` | `ioctl(TRIGGER_GEN_UPDATE, min)` | `ok counter=N`; EACCES, EINVAL, EOVERFLOW |
/// | `ioctl <request> <arg>` | any ioctl | as above; EINVAL for unknown requests |
/// | `watchers` | — | `ok counter=N tracked=T outdated=O clients=C` |
/// | `subscribe` | uevent socket | `ok counter=N`, then `event SYSGENID=N` lines at every change |
/// | `cancel` | a signal | the blocked request ends with `err EINTR` (sent while one blocks) |
///
/// Unknown verbs and malformed arguments get `err EINVAL <why>`.
public enum ProviderRequest: Equatable, Sendable {
    case hello
    case read(count: Int, nonBlocking: Bool)
    case write([UInt8])
    case acknowledge(UInt32)
    case poll(timeoutMilliseconds: Int32)
    case ioctl(request: UInt64, argument: UInt64)
    case watchers
    case subscribe
    case cancel

    public static let protocolVersion = 1
    public static let maximumLineLength = 4096

    public var line: String {
        switch self {
        case .hello: return "hello\n"
        case let .read(count, nonBlocking): return "read \(count)\(nonBlocking ? " nonblock" : "")\n"
        case .write(let bytes): return "write \(bytes.isEmpty ? "-" : hexString(bytes))\n"
        case .acknowledge(let value): return "ack \(value)\n"
        case .poll(let timeout): return "poll \(timeout)\n"
        case let .ioctl(request, argument):
            switch request {
            case SysGenIDIoctl.setWatcherTracking: return "track \(argument)\n"
            case SysGenIDIoctl.waitWatchers: return "wait \(argument)\n"
            case SysGenIDIoctl.triggerGenUpdate: return "trigger \(argument)\n"
            default: return "ioctl 0x\(String(request, radix: 16)) \(argument)\n"
            }
        case .watchers: return "watchers\n"
        case .subscribe: return "subscribe\n"
        case .cancel: return "cancel\n"
        }
    }

    /// Parses one request line (without or with its newline); the error is
    /// the reason, sent back as `err EINVAL <reason>`.
    public init(line: some StringProtocol) throws(ProviderProtocolError) {
        let words = splitWords(line)
        guard let verb = words.first else { throw .malformed("empty request") }
        let arguments = Array(words.dropFirst())
        func expect(_ count: ClosedRange<Int>) throws(ProviderProtocolError) {
            guard count.contains(arguments.count) else {
                throw .malformed("'\(verb)' takes \(count.lowerBound == count.upperBound ? "\(count.lowerBound)" : "\(count.lowerBound)-\(count.upperBound)") argument(s)")
            }
        }
        func number(_ word: Substring) throws(ProviderProtocolError) -> UInt64 {
            let parsed = word.hasPrefix("0x") ? UInt64(word.dropFirst(2), radix: 16) : UInt64(word)
            guard let parsed else { throw .malformed("'\(word)' is not a number") }
            return parsed
        }
        switch verb {
        case "hello": try expect(0...0); self = .hello
        case "read":
            try expect(1...2)
            guard let count = Int(arguments[0]), count >= 0 else { throw .malformed("bad read size '\(arguments[0])'") }
            if arguments.count == 2 && arguments[1] != "nonblock" { throw .malformed("unknown read flag '\(arguments[1])'") }
            self = .read(count: count, nonBlocking: arguments.count == 2)
        case "write":
            try expect(1...1)
            if arguments[0] == "-" { self = .write([]); return }
            guard let bytes = parseHex(arguments[0]), bytes.count <= 64 else { throw .malformed("bad hex bytes") }
            self = .write(bytes)
        case "ack":
            try expect(1...1)
            guard let value = UInt32(arguments[0]) else { throw .malformed("'\(arguments[0])' is not a u32") }
            self = .acknowledge(value)
        case "poll":
            try expect(1...1)
            guard let timeout = Int32(arguments[0]), timeout >= -1 else { throw .malformed("bad poll timeout") }
            self = .poll(timeoutMilliseconds: timeout)
        case "track": try expect(1...1); self = .ioctl(request: SysGenIDIoctl.setWatcherTracking, argument: try number(arguments[0]))
        case "wait": try expect(1...1); self = .ioctl(request: SysGenIDIoctl.waitWatchers, argument: try number(arguments[0]))
        case "trigger": try expect(1...1); self = .ioctl(request: SysGenIDIoctl.triggerGenUpdate, argument: try number(arguments[0]))
        case "ioctl":
            try expect(2...2)
            self = .ioctl(request: try number(arguments[0]), argument: try number(arguments[1]))
        case "watchers": try expect(0...0); self = .watchers
        case "subscribe": try expect(0...0); self = .subscribe
        case "cancel": try expect(0...0); self = .cancel
        default: throw .malformed("unknown verb '\(verb)'")
        }
    }
}

public enum ProviderReply: Equatable, Sendable {
    case ok([(String, String)])
    case error(Errno, String)
    case event(counter: UInt32)

    public static func == (lhs: ProviderReply, rhs: ProviderReply) -> Bool {
        switch (lhs, rhs) {
        case let (.ok(a), .ok(b)): return a.map { $0.0 + "=" + $0.1 } == b.map { $0.0 + "=" + $0.1 }
        case let (.error(a, m), .error(b, n)): return a == b && m == n
        case let (.event(a), .event(b)): return a == b
        default: return false
        }
    }

    public var line: String {
        switch self {
        case .ok(let fields):
            return (["ok"] + fields.map { "\($0.0)=\($0.1)" }).joined(separator: " ") + "\n"
        case let .error(errno, message):
            // The message is free text on one line. Scalars, not Characters:
            // "\r\n" is one Character, equal to neither.
            var clean = String.UnicodeScalarView()
            clean.append(contentsOf: message.unicodeScalars.map { $0 == "\n" || $0 == "\r" ? " " : $0 })
            return "err \(errno.name)\(clean.isEmpty ? "" : " " + String(clean))\n"
        case .event(let counter):
            return "event SYSGENID=\(counter)\n"
        }
    }

    public init(line: some StringProtocol) throws(ProviderProtocolError) {
        let words = splitWords(line)
        guard let status = words.first else { throw .malformed("empty reply") }
        switch status {
        case "ok":
            var fields: [(String, String)] = []
            for word in words.dropFirst() {
                guard let equals = word.firstIndex(of: "=") else { throw .malformed("field '\(word)' is not key=value") }
                fields.append((String(word[..<equals]), String(word[word.index(after: equals)...])))
            }
            self = .ok(fields)
        case "err":
            guard words.count >= 2, let errno = Errno(name: words[1]) else { throw .malformed("error reply without an errno name") }
            self = .error(errno, words.dropFirst(2).joined(separator: " "))
        case "event":
            guard words.count == 2, words[1].hasPrefix("SYSGENID="), let value = UInt32(words[1].dropFirst(9)) else {
                throw .malformed("bad event")
            }
            self = .event(counter: value)
        default:
            throw .malformed("reply must start with ok, err or event")
        }
    }

    public subscript(key: String) -> String? {
        guard case .ok(let fields) = self else { return nil }
        return fields.first { $0.0 == key }?.1
    }
}

public enum ProviderProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed(String)
    public var description: String {
        switch self { case .malformed(let why): return why }
    }
}

func splitWords(_ line: some StringProtocol) -> [Substring] {
    var text = Substring(line)
    while let last = text.unicodeScalars.last, last == "\n" || last == "\r" {
        text = Substring(text.unicodeScalars.dropLast())
    }
    return text.split(separator: " ", omittingEmptySubsequences: true)
}

func hexString(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef")
    var out = ""
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0xf)])
    }
    return out
}

func parseHex(_ text: some StringProtocol) -> [UInt8]? {
    let utf8 = Array(text.utf8)
    guard utf8.count % 2 == 0 else { return nil }
    var bytes: [UInt8] = []
    var index = 0
    while index < utf8.count {
        guard let high = hexDigit(utf8[index]), let low = hexDigit(utf8[index + 1]) else { return nil }
        bytes.append(high << 4 | low)
        index += 2
    }
    return bytes
}

private func hexDigit(_ byte: UInt8) -> UInt8? {
    switch byte {
    case 0x30...0x39: return byte - 0x30
    case 0x61...0x66: return byte - 0x61 + 10
    case 0x41...0x46: return byte - 0x41 + 10
    default: return nil
    }
}
