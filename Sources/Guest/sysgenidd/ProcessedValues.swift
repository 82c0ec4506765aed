#if canImport(Glibc)
import Glibc
#endif
import SysGenID
import VMGenID

/// The VMGENID values whose generation the sysgenid provider has taken:
/// the value at boot, then each new one once the provider bumped for it.
/// `wait-ready` blocks here until the value the host wrote shows up.
///
/// A short history rather than only the latest: a host that asks late,
/// after a newer value, must not wait for a value that already passed.
final class ProcessedValues: @unchecked Sendable {
    static let historyLimit = 64

    private let monitor = Monitor()
    private var history: [GenerationID] = []

    func record(_ value: GenerationID) {
        monitor.locked {
            history.removeAll { $0 == value }
            history.append(value)
            if history.count > ProcessedValues.historyLimit { history.removeFirst() }
            monitor.broadcast()
        }
    }

    var latest: GenerationID? { monitor.locked { history.last } }

    /// True once `value` has been processed; false if the deadline
    /// (CLOCK_MONOTONIC, ns; nil = none) passes first.
    func wait(for value: GenerationID, untilMonotonicNanoseconds deadline: UInt64?) -> Bool {
        monitor.locked {
            while !history.contains(value) {
                if let deadline, monotonicNanoseconds() >= deadline { return false }
                monitor.wait(untilMonotonicNanoseconds: deadline)
            }
            return true
        }
    }
}
