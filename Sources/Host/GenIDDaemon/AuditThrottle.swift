import Foundation
import Synchronization

/// At most one audit row of a kind per domain per `interval`: a guest that
/// resets in a loop must not grow the ledger without bound. The row that
/// is written says how many were left out before it.
final class AuditThrottle: Sendable {
    let interval: Duration
    private let last = Mutex<[Key: (at: ContinuousClock.Instant, skipped: Int)]>([:])

    private struct Key: Hashable {
        let domain: String
        let kind: String
    }

    init(interval: Duration = .seconds(60)) {
        self.interval = interval
    }

    /// nil: leave this row out. Else how many rows of this kind were left
    /// out since the last one written.
    func admit(domain: String, kind: String, now: ContinuousClock.Instant = .now) -> Int? {
        last.withLock { last in
            let key = Key(domain: domain, kind: kind)
            if let previous = last[key], now - previous.at < interval {
                last[key] = (previous.at, previous.skipped + 1)
                return nil
            }
            let skipped = last[key]?.skipped ?? 0
            last[key] = (now, 0)
            return skipped
        }
    }
}
