import AgentProtocol
import Foundation
import GenIDControl
import GuestAgent
import Logging
import VMGenID

/// Per domain: has the guest adjusted to its current value? After every
/// new value genidd asks the guest agent (`wait-ready VALUE`) to wait until
/// sysgenid took the new generation and every tracked watcher acknowledged
/// it; `wait(...)` lets control planes block until then.
actor ReadinessGate {
    enum State: Sendable {
        case adjusting(value: GenerationID, since: ContinuousClock.Instant)
        case ready(value: GenerationID, milliseconds: Double)
        case failed(value: GenerationID, reason: String)
    }

    private struct Waiter {
        let value: GenerationID
        let continuation: CheckedContinuation<Double?, any Error>
    }

    private var states: [String: State] = [:]
    private var tasks: [String: Task<Void, Never>] = [:]
    private var waiters: [String: [UUID: Waiter]] = [:]
    private let timeout: Duration
    private let metrics: DaemonMetrics
    private let logger: Logger

    init(timeout: Duration, metrics: DaemonMetrics, logger: Logger) {
        self.timeout = timeout
        self.metrics = metrics
        self.logger = logger
    }

    func state(of domain: String) -> State? { states[domain] }

    /// The guest of `domain` has (or is about to get) `value`; ask its agent
    /// over the channel at `channelPath` (nil: the domain declares none).
    func begin(domain: String, value: GenerationID, channelPath: String?) {
        if case .ready(let ready, _) = states[domain], ready == value { return }
        if case .adjusting(let adjusting, _) = states[domain], adjusting == value { return }
        // No channel to ask, as before: the same failure again says nothing new.
        if case .failed(let failed, _) = states[domain], failed == value, channelPath == nil { return }
        tasks[domain]?.cancel()
        let since = ContinuousClock.now
        states[domain] = .adjusting(value: value, since: since)
        guard let channelPath else {
            finish(domain: domain, value: value, since: since,
                   result: .failure(DaemonError.readiness(domain: domain, reason:
                        "the domain declares no guest agent channel; add the channel from qemu/libvirt-domain.xml")))
            return
        }
        let timeout = self.timeout
        tasks[domain] = Task {
            let result = await Result(catching: { try await Self.askAgent(path: channelPath, value: value, timeout: timeout) })
            self.finish(domain: domain, value: value, since: since, result: result)
        }
    }

    /// The domain stopped or went away: its guest cannot adjust any more.
    func forget(domain: String, reason: String) {
        tasks.removeValue(forKey: domain)?.cancel()
        states.removeValue(forKey: domain)
        for waiter in waiters.removeValue(forKey: domain)?.values ?? [:].values {
            waiter.continuation.resume(throwing: DaemonError.readiness(domain: domain, reason: reason))
        }
    }

    /// Returns once the guest adjusted to `value` (the readiness latency in
    /// ms, if genidd measured it), or throws on failure or at `deadline`
    /// (the caller's whole `limit`, which the error names).
    func wait(domain: String, value: GenerationID, until deadline: ContinuousClock.Instant, limit: Duration) async throws
        -> Double? {
        switch states[domain] {
        case .ready(let ready, let milliseconds) where ready == value: return milliseconds
        case .failed(let failed, let reason) where failed == value:
            throw DaemonError.readiness(domain: domain, reason: reason)
        default: break
        }
        let id = UUID()
        let timer = Task {
            try? await Task.sleep(until: deadline)
            self.timeOut(domain: domain, id: id, limit: limit)
        }
        defer { timer.cancel() }
        return try await withCheckedThrowingContinuation { continuation in
            waiters[domain, default: [:]][id] = Waiter(value: value, continuation: continuation)
        }
    }

    private func timeOut(domain: String, id: UUID, limit: Duration) {
        guard let waiter = waiters[domain]?.removeValue(forKey: id) else { return }
        let detail: String
        switch states[domain] {
        case .adjusting(let value, _) where value == waiter.value: detail = "the guest is still adjusting"
        case .ready(let value, _), .adjusting(let value, _), .failed(let value, _):
            detail = "genidd has not seen \(waiter.value) yet (the domain's state is for \(value))"
        case nil: detail = "genidd has no readiness for it yet"
        }
        waiter.continuation.resume(throwing: DaemonError.readiness(
            domain: domain, reason: "not ready within \(limit.seconds) s: \(detail)"))
    }

    private func finish(domain: String, value: GenerationID, since: ContinuousClock.Instant, result: Result<Void, any Error>) {
        guard case .adjusting(let current, let started) = states[domain], current == value, started == since else { return }
        tasks.removeValue(forKey: domain)
        let elapsed = ContinuousClock.now - since
        let milliseconds = elapsed.seconds * 1000
        switch result {
        case .success:
            states[domain] = .ready(value: value, milliseconds: milliseconds)
            metrics.readiness(elapsed)
            logger.info("guest adjusted", metadata: ["domain": "\(domain)", "value": "\(value)",
                                                     "readiness_ms": "\(Int(milliseconds))"])
        case .failure(let error):
            let reason = "\(error)"
            states[domain] = .failed(value: value, reason: reason)
            metrics.failure("readiness")
            logger.warning("readiness unknown", metadata: ["domain": "\(domain)", "value": "\(value)", "error": "\(reason)"])
        }
        guard var pending = waiters[domain] else { return }
        for (id, waiter) in pending where waiter.value == value {
            pending.removeValue(forKey: id)
            switch result {
            case .success: waiter.continuation.resume(returning: milliseconds)
            case .failure(let error):
                waiter.continuation.resume(throwing: DaemonError.readiness(domain: domain, reason: "\(error)"))
            }
        }
        waiters[domain] = pending
    }

    /// Connects to the agent (it may still be starting after a boot) and
    /// asks it to wait for `value` and the watchers.
    private static func askAgent(path: String, value: GenerationID, timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        var lastError: (any Error)?
        while ContinuousClock.now < deadline {
            try Task.checkCancellation()
            let agent: AgentClient
            do {
                agent = try await AgentClient.connect(unixSocketPath: path)
            } catch {
                lastError = error
                try await Task.sleep(for: .milliseconds(200))
                continue
            }
            defer { Task { await agent.close() } }
            do {
                _ = try await agent.request(.ping, timeout: .seconds(2))
            } catch AgentClientError.timeout {
                lastError = AgentClientError.timeout(verb: "ping", seconds: 2)
                continue  // the guest agent is not up yet
            }
            let remaining = deadline - ContinuousClock.now
            let milliseconds = max(1, Int(remaining.seconds * 1000))
            _ = try await agent.request(.waitReady, arguments: [value.description, String(milliseconds)],
                                        timeout: remaining + .seconds(2))
            return
        }
        throw AgentClientError.protocolViolation("no answer from the guest agent at \(path) within \(timeout.seconds) s"
                                                     + (lastError.map { " (\($0))" } ?? ""))
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
