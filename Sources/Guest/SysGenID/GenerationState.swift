/// The sysgenid state machine as a plain value: the counter, every open
/// file's (or connection's) acknowledged copy and tracking flag, and the
/// tracked/outdated watcher counts. The userspace provider keeps one of
/// these under a lock; the unit tests drive it directly. It never blocks:
/// operations that would block say so, and the caller waits and retries.
public struct GenerationState: Sendable, Equatable {
    public struct Client: Sendable, Equatable {
        public var acknowledged: UInt32
        public var tracked: Bool
    }

    public enum ReadOutcome: Equatable, Sendable {
        /// `read(n == 0)`: returns 0.
        case empty
        /// Returns 4 bytes: this counter.
        case value(UInt32)
        case failure(Errno)
        /// Up to date and blocking: wait for a change, then ask again.
        case wouldBlock
    }

    public enum WaitOutcome: Equatable, Sendable {
        case done
        case failure(Errno)
        case wouldBlock
    }

    public private(set) var counter: UInt32
    public private(set) var clients: [Int: Client] = [:]
    /// Tracked clients, and how many of them are outdated.
    public private(set) var trackedCount = 0
    public private(set) var outdatedTrackedCount = 0
    private var nextID = 1

    public init(counter: UInt32 = 0) {
        self.counter = counter
    }

    // MARK: open and close

    /// `open()`: a new client whose acknowledged copy is the current counter.
    public mutating func open() -> Int {
        let id = nextID
        nextID += 1
        clients[id] = Client(acknowledged: counter, tracked: false)
        return id
    }

    /// `close()`: stops tracking (fixing the counts) and forgets the client.
    public mutating func close(_ id: Int) {
        setTracking(id, false)
        clients[id] = nil
    }

    public func isOutdated(_ id: Int) -> Bool {
        guard let client = clients[id] else { return false }
        return client.acknowledged != counter
    }

    // MARK: read, write, poll

    public func read(_ id: Int, count: Int, nonBlocking: Bool) -> ReadOutcome {
        if count == 0 { return .empty }
        if count < 4 { return .failure(.EINVAL) }
        guard clients[id] != nil else { return .failure(.EBADF) }
        if isOutdated(id) { return .value(counter) }
        return nonBlocking ? .failure(.EAGAIN) : .wouldBlock
    }

    /// `write(buf, n)`: `n != 4` is ENOBUFS, a value other than the
    /// counter EINVAL. Native-endian, like the device.
    public mutating func write(_ id: Int, bytes: [UInt8]) -> Errno? {
        guard bytes.count == 4 else { return .ENOBUFS }
        let value = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
        return acknowledge(id, value: value)
    }

    public mutating func acknowledge(_ id: Int, value: UInt32) -> Errno? {
        guard var client = clients[id] else { return .EBADF }
        guard value == counter else { return .EINVAL }
        if client.tracked && client.acknowledged != counter { outdatedTrackedCount -= 1 }
        client.acknowledged = counter
        clients[id] = client
        return nil
    }

    /// `poll()`: readable exactly while outdated.
    public func readable(_ id: Int) -> Bool { isOutdated(id) }

    // MARK: ioctls

    /// `SYSGENID_SET_WATCHER_TRACKING`; idempotent.
    public mutating func setTracking(_ id: Int, _ on: Bool) {
        guard var client = clients[id], client.tracked != on else { return }
        let outdated = client.acknowledged != counter
        client.tracked = on
        clients[id] = client
        trackedCount += on ? 1 : -1
        if outdated { outdatedTrackedCount += on ? 1 : -1 }
    }

    /// `SYSGENID_WAIT_WATCHERS` evaluated now: EINTR when the caller itself
    /// is outdated, done when no tracked watcher is, else wait. The timeout
    /// (ETIME) is the caller's business.
    public func waitWatchers(_ id: Int) -> WaitOutcome {
        if isOutdated(id) { return .failure(.EINTR) }
        return outdatedTrackedCount == 0 ? .done : .wouldBlock
    }

    /// `SYSGENID_TRIGGER_GEN_UPDATE` (privilege checked by the caller):
    /// counter = max(minimum, counter + 1). A minimum above 2^32-1 is
    /// EINVAL; at 2^32-1 the counter saturates and TRIGGER is EOVERFLOW;
    /// a minimum more than `SysGenIDIoctl.triggerMaximumStep` above the
    /// counter is EINVAL (the kernel module's choices, in its order).
    public mutating func trigger(minimum: UInt64) -> Result<UInt32, Errno> {
        guard minimum <= UInt64(UInt32.max) else { return .failure(.EINVAL) }
        guard counter < UInt32.max else { return .failure(.EOVERFLOW) }
        guard minimum <= UInt64(counter) + SysGenIDIoctl.triggerMaximumStep else { return .failure(.EINVAL) }
        let next = max(UInt32(minimum), counter + 1)
        setCounter(next)
        return .success(next)
    }

    /// A hardware-driven change: one change, one bump. Nil when saturated.
    @discardableResult
    public mutating func bump() -> UInt32? {
        guard counter < UInt32.max else { return nil }
        setCounter(counter + 1)
        return counter
    }

    private mutating func setCounter(_ value: UInt32) {
        counter = value
        // Every tracked client acknowledged an older value: all outdated.
        outdatedTrackedCount = trackedCount
    }

    /// Dispatches an ioctl request number as the device does.
    public enum IoctlOutcome: Equatable, Sendable {
        case success
        case failure(Errno)
        case wouldBlock
        /// A TRIGGER that passed: the new counter.
        case triggered(UInt32)
    }

    public mutating func ioctl(_ id: Int, request: UInt64, argument: UInt64, privileged: Bool) -> IoctlOutcome {
        switch request {
        case SysGenIDIoctl.setWatcherTracking:
            setTracking(id, argument != 0)
            return .success
        case SysGenIDIoctl.waitWatchers:
            switch waitWatchers(id) {
            case .done: return .success
            case .failure(let error): return .failure(error)
            case .wouldBlock: return .wouldBlock
            }
        case SysGenIDIoctl.triggerGenUpdate:
            guard privileged else { return .failure(.EACCES) }
            switch trigger(minimum: argument) {
            case .success(let value): return .triggered(value)
            case .failure(let error): return .failure(error)
            }
        default:
            return .failure(.EINVAL)
        }
    }
}

/// The request numbers: `_IO(0xE4, 1..3)`.
public enum SysGenIDIoctl {
    public static let magic: UInt64 = 0xE4
    public static let setWatcherTracking: UInt64 = 0xE401
    public static let waitWatchers: UInt64 = 0xE402
    public static let triggerGenUpdate: UInt64 = 0xE403
    /// How far above the counter a TRIGGER minimum may be
    /// (`SYSGENID_TRIGGER_MAX_STEP`). The minimum lets a restorer put the
    /// counter past every value a workload may have seen elsewhere; the
    /// counter moves once per state load, so 2^20 exceeds any real history,
    /// while one call (a mistake, or a caller fooled into it) can no longer
    /// saturate the counter, which would end generation changes until reboot:
    /// that now takes 4096 privileged calls, each logged.
    public static let triggerMaximumStep: UInt64 = 1 << 20

    /// The longest `SYSGENID_WAIT_WATCHERS` timeout, in ms: the module takes
    /// `min(ms, UINT_MAX)` (about 49.7 days), and so does the provider.
    public static let maximumWaitMilliseconds = UInt64(UInt32.max)

    /// When a `SYSGENID_WAIT_WATCHERS` of `argument` ms that starts at `now`
    /// (monotonic ms) times out; nil for 0 (no timeout). Any argument a
    /// client sends, up to 2^64-1, gives a deadline: it never traps.
    public static func waitDeadline(now: Int64, argument: UInt64) -> Int64? {
        argument == 0 ? nil : deadline(now: now, after: Int64(min(argument, maximumWaitMilliseconds)))
    }

    /// `now + milliseconds`, saturated at Int64.max instead of trapping.
    public static func deadline(now: Int64, after milliseconds: Int64) -> Int64 {
        let (sum, overflow) = now.addingReportingOverflow(milliseconds)
        return overflow ? (milliseconds < 0 ? .min : .max) : sum
    }

    /// `_IO(type, number)` (no direction, no size).
    public static func io(_ type: UInt64, _ number: UInt64) -> UInt64 { type << 8 | number }
    /// `_IOW(type, number, size)`.
    public static func iow(_ type: UInt64, _ number: UInt64, size: UInt64) -> UInt64 {
        1 << 30 | size << 16 | type << 8 | number
    }
}
