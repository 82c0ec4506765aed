/// The arguments of the sysgenid verbs, as the agent parses them and a host
/// builds them (see `AgentVerb`); like `WaitReadyArguments`, so both agree.

/// `wait-watchers <timeout_ms>` (0 = no timeout).
public struct WaitWatchersArguments: Equatable, Sendable {
    public static let usage = "usage: wait-watchers <timeout_ms> (0 = no timeout)"

    public var timeoutMilliseconds: UInt32

    public init(timeoutMilliseconds: UInt32) {
        self.timeoutMilliseconds = timeoutMilliseconds
    }

    public init?(_ arguments: [String]) {
        guard arguments.count == 1, let timeout = UInt32(arguments[0]) else { return nil }
        self.init(timeoutMilliseconds: timeout)
    }

    public var arguments: [String] { [String(timeoutMilliseconds)] }
}

/// `conformance device|userspace [fresh]` (`module` is taken for `device`).
public struct ConformanceArguments: Equatable, Sendable {
    public static let usage = "usage: conformance device|userspace [fresh]"

    public enum Suite: String, Sendable {
        case device
        case userspace
    }

    public var suite: Suite
    public var fresh: Bool

    public init(suite: Suite, fresh: Bool) {
        self.suite = suite
        self.fresh = fresh
    }

    public init?(_ arguments: [String]) {
        guard (1...2).contains(arguments.count),
              let suite = Suite(rawValue: arguments[0] == "module" ? Suite.device.rawValue : arguments[0]),
              arguments.count == 1 || arguments[1] == "fresh" else { return nil }
        self.init(suite: suite, fresh: arguments.count == 2)
    }

    public var arguments: [String] { [suite.rawValue] + (fresh ? ["fresh"] : []) }
}

/// `bench [mmap_loads] [reads]`, each from 1 to `maximum`.
public struct BenchArguments: Equatable, Sendable {
    public static let usage = "usage: bench [mmap_loads] [reads]"
    /// Enough for a stable figure; more would hold the agent's thread for minutes.
    public static let maximum = 100_000_000

    public var mmapLoads: Int
    public var reads: Int

    public init(mmapLoads: Int = 100_000, reads: Int = 2_000) {
        self.mmapLoads = mmapLoads
        self.reads = reads
    }

    public init?(_ arguments: [String]) {
        let numbers = arguments.map { Int($0) }
        guard numbers.count <= 2, numbers.allSatisfy({ $0.map { (1...Self.maximum).contains($0) } ?? false }) else {
            return nil
        }
        let defaults = BenchArguments()
        self.init(mmapLoads: numbers.first.flatMap { $0 } ?? defaults.mmapLoads,
                  reads: numbers.count > 1 ? numbers[1] ?? defaults.reads : defaults.reads)
    }

    public var arguments: [String] { [String(mmapLoads), String(reads)] }
}
