/// The arguments of `wait-ready <vmgenid> <timeout_ms>`, shared by the
/// agent (parsing) and hosts (building), so both agree on the shape. The
/// value stays text here: the agent checks it is RFC-4122 with VMGenID's
/// `GenerationID` (this module has no dependencies).
public struct WaitReadyArguments: Equatable, Sendable {
    public static let usage = "usage: wait-ready <vmgenid> <timeout_ms> (RFC-4122 value; 0 = no timeout)"

    public var value: String
    /// 0 = no timeout.
    public var timeoutMilliseconds: UInt32

    public init(value: String, timeoutMilliseconds: UInt32) {
        self.value = value
        self.timeoutMilliseconds = timeoutMilliseconds
    }

    /// Nil unless there are exactly two arguments and the second is a
    /// decimal UInt32.
    public init?(_ arguments: [String]) {
        guard arguments.count == 2, !arguments[1].hasPrefix("+"),
              let timeout = UInt32(arguments[1]) else { return nil }
        self.init(value: arguments[0], timeoutMilliseconds: timeout)
    }

    public var arguments: [String] { [value, String(timeoutMilliseconds)] }
}

/// The argument of `slow-watcher <ack_delay_ms>`.
public struct SlowWatcherArguments: Equatable, Sendable {
    public static let usage = "usage: slow-watcher <ack_delay_ms> (at most \(maximumDelayMilliseconds))"
    /// An hour: anything longer is a typo, and a watcher that never
    /// acknowledges would block every later gate for good.
    public static let maximumDelayMilliseconds: UInt32 = 3_600_000

    public var ackDelayMilliseconds: UInt32

    public init(ackDelayMilliseconds: UInt32) {
        self.ackDelayMilliseconds = ackDelayMilliseconds
    }

    public init?(_ arguments: [String]) {
        guard arguments.count == 1, !arguments[0].hasPrefix("+"), let delay = UInt32(arguments[0]),
              delay <= SlowWatcherArguments.maximumDelayMilliseconds else { return nil }
        self.init(ackDelayMilliseconds: delay)
    }

    public var arguments: [String] { [String(ackDelayMilliseconds)] }
}
