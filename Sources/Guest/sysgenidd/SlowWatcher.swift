#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import SysGenID

/// `slow-watcher`: a tracked consumer inside the agent that takes its time
/// to acknowledge each new generation, standing in for an application that
/// must reseed or reconnect first. The lab uses it to check that the
/// readiness gate waits for the slowest watcher.
enum SlowWatcher {
    /// Started since the agent began (they never stop).
    static let running = Atomic<Int>(0)

    /// Opens a handle on `provider`, makes it tracked, and starts its
    /// thread. Returns how many run now, this one included.
    static func start(provider: SysGenIDProvider, ackDelayMilliseconds: UInt32) throws(SysGenIDError) -> Int {
        let genid = try SysGenID(provider: provider)
        // Tracked from now on: the current generation is acknowledged at
        // open, so the watcher is up to date until the next change.
        try genid.setTracking(true)
        let number = running.add(1, ordering: .relaxed).newValue
        PosixThread.detach {
            while true {
                do {
                    guard let value = try genid.next() else { continue }
                    sleepMilliseconds(Int(ackDelayMilliseconds))
                    // EINVAL: a newer generation came meanwhile; the next read returns it.
                    try? genid.acknowledge(value)
                    log("slow watcher \(number): acknowledged generation \(value) after \(ackDelayMilliseconds) ms")
                } catch {
                    log("slow watcher \(number): \(error)")
                    sleepMilliseconds(1000)
                }
            }
        }
        return number
    }
}
