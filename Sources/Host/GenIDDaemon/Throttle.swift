import Synchronization

/// At most one of a kind per `interval`: what a guest or a local user can
/// cause at will (an audit row at every guest reset, a log line at every
/// refused connection) must not grow the ledger or flood the journal. The
/// one let through says how many were left out before it.
final class Throttle: Sendable {
    let interval: Duration
    private let last = Mutex<[String: (at: ContinuousClock.Instant, skipped: Int)]>([:])

    init(interval: Duration = .seconds(60)) {
        self.interval = interval
    }

    /// nil: leave this one out. Else how many of `key` were left out since
    /// the last one let through.
    func admit(_ key: String, now: ContinuousClock.Instant = .now) -> Int? {
        last.withLock { last in
            if let previous = last[key], now - previous.at < interval {
                last[key] = (previous.at, previous.skipped + 1)
                return nil
            }
            let skipped = last[key]?.skipped ?? 0
            last[key] = (now, 0)
            return skipped
        }
    }

    /// " (N more like it ... were left out)", or nothing.
    static func leftOut(_ skipped: Int, interval: Duration) -> String {
        skipped > 0 ? " (\(skipped) more like it in the \(Int(interval.components.seconds)) s before were left out)" : ""
    }
}
