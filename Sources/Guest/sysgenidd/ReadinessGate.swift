#if canImport(Glibc)
import Glibc
#endif
import AgentProtocol
import Synchronization
import SysGenID
import VMGenID

/// `wait-ready`: after a state load the host wrote a new VMGENID value; the
/// guest is ready for it once (a) the provider took the generation for that
/// value and (b) every tracked watcher acknowledged it.
extension GuestContext {
    func waitReady(value: GenerationID, timeoutMilliseconds: UInt32) -> AgentResponse.Outcome {
        guard let active else { return .error("ENODEV no sysgenid provider in this guest") }
        let start = monotonicMilliseconds()
        let deadline = timeoutMilliseconds == 0 ? nil : start + Int64(timeoutMilliseconds)

        // (a) The provider took the generation for this value.
        let deadlineNanoseconds = deadline.map { UInt64($0) * 1_000_000 }
        guard watcher.processed.wait(for: value, untilMonotonicNanoseconds: deadlineNanoseconds) else {
            let latest = watcher.processed.latest.map { "\($0)" } ?? "none"
            return .error("\(agentTimedOutPrefix) value \(value) not processed yet after "
                          + "\(monotonicMilliseconds() - start) ms (last processed \(latest))")
        }
        let generationMilliseconds = monotonicMilliseconds() - start

        // (b) The watchers acknowledged, in the time left. WAIT_WATCHERS
        // takes 0 as "no timeout", so an exhausted budget becomes 1 ms.
        do {
            let genid = try SysGenID(provider: active)
            try genid.waitForWatchersAcknowledgingOwnHandle(until: deadline)
            return .ok([AgentField(AgentSysGenIDField.elapsedMilliseconds, String(monotonicMilliseconds() - start)),
                        AgentField(AgentReadinessField.generationMilliseconds, String(generationMilliseconds)),
                        AgentField(AgentStatusField.sysgenidCounter, String(genid.current))])
        } catch where error.errno == .ETIME {
            return .error("\(agentTimedOutPrefix) watchers not settled after \(monotonicMilliseconds() - start) ms "
                          + "(value \(value) processed after \(generationMilliseconds) ms; \(error))")
        } catch {
            return .error("\(error.errno.name) \(error) after \(monotonicMilliseconds() - start) ms")
        }
    }
}

extension SysGenID {
    /// WAIT_WATCHERS until `deadline` (monotonic ms; nil: no limit). The ABI
    /// fails it with EINTR when this handle itself is (or becomes) outdated,
    /// so that the caller takes the new generation first: this handle is not
    /// a watcher of anything, so it acknowledges and waits again.
    func waitForWatchersAcknowledgingOwnHandle(until deadline: Int64?) throws(SysGenIDError) {
        while true {
            var left: UInt32 = 0
            if let deadline { left = UInt32(clamping: max(1, deadline - monotonicMilliseconds())) }
            do {
                try waitForWatchers(timeoutMilliseconds: left)
                return
            } catch where error.errno == .EINTR {
                if let generation = try next(nonBlocking: true) { try acknowledge(generation) }
            }
        }
    }
}
