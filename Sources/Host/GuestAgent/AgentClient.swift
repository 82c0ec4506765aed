import AgentProtocol
import QMP
import NIOCore
import NIOPosix
import Synchronization

/// The host end of the guest agent's virtio-serial port: QEMU listens on a
/// UNIX socket (chardev socket, server=on) and relays to the guest.
///
/// Requests carry ids; a response to a request that already timed out is
/// dropped, so a guest that answers late never answers the wrong question.
public final class AgentClient: Sendable {
    private struct Pending {
        let continuation: CheckedContinuation<AgentResponse, any Error>
        let timeout: Task<Void, Never>
        let verb: String
    }

    /// An unsolicited line (id 0) and when it reached the host.
    public struct ReceivedEvent: Sendable {
        public var event: AgentEvent
        public var arrivedAt: ContinuousClock.Instant
    }

    private struct EventWaiter {
        let name: String
        let continuation: CheckedContinuation<ReceivedEvent, any Error>
        let timeout: Task<Void, Never>
    }

    private struct State {
        var nextID: UInt64 = 0
        var pending: [UInt64: Pending] = [:]
        var closed = false
        /// Events nobody waited for yet (bounded), oldest first.
        var events: [ReceivedEvent] = []
        var eventWaiters: [UInt64: EventWaiter] = [:]
        var nextWaiterID: UInt64 = 0
    }
    /// Events kept for a later `nextEvent` call; older ones are dropped.
    static let eventBacklog = 64

    private let channel: any Channel
    private let state = Mutex(State())

    private init(channel: any Channel) {
        self.channel = channel
    }

    public static func connect(unixSocketPath path: String,
                               group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws
        -> AgentClient {
        let box = Mutex<AgentClient?>(nil)
        let channel = try await LineChannel.connect(unixSocketPath: path, maximumLength: agentMaximumLineLength,
                                                    group: group) { event in
            guard let client = box.withLock({ $0 }) else { return }
            switch event {
            case .line(let line, let instant): client.received(String(buffer: line), at: instant)
            case .closed: client.failAll(AgentClientError.protocolViolation("the agent socket closed"))
            }
        }
        let client = AgentClient(channel: channel)
        box.withLock { $0 = client }
        return client
    }

    /// Sends one request and waits for its response.
    public func request(_ verb: AgentVerb, arguments: [String] = [],
                        timeout: Duration = .seconds(10)) async throws -> AgentResponse {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        let line = AgentRequest(id: id, verb: verb.rawValue, arguments: arguments).line
        let response = try await withCheckedThrowingContinuation { continuation in
            let timeoutTask = Task {
                try? await Task.sleep(for: timeout)
                guard !Task.isCancelled else { return }
                self.complete(id, with: .failure(AgentClientError.timeout(verb: verb.rawValue, seconds: timeout.seconds)))
            }
            let accepted = state.withLock { state -> Bool in
                guard !state.closed else { return false }
                state.pending[id] = Pending(continuation: continuation, timeout: timeoutTask, verb: verb.rawValue)
                return true
            }
            guard accepted else {
                timeoutTask.cancel()
                continuation.resume(throwing: AgentClientError.protocolViolation("the agent connection is closed"))
                return
            }
            channel.writeAndFlush(ByteBuffer(string: line)).whenFailure { error in
                self.complete(id, with: .failure(AgentClientError.protocolViolation("cannot send '\(verb.rawValue)': \(error)")))
            }
        }
        if case .error(let message) = response.outcome {
            throw AgentClientError.refused(verb: verb.rawValue, message: message)
        }
        return response
    }

    /// The next unsolicited event line named `name` (`0 event <name> …`),
    /// with the host instant it arrived at (taken when the line was read
    /// off the socket). An event that arrived before this call is returned
    /// at once; events of other names are left for other callers.
    public func nextEvent(named name: String, timeout: Duration = .seconds(10)) async throws -> ReceivedEvent {
        try await withCheckedThrowingContinuation { continuation in
            let (immediate, waiterID) = state.withLock { state -> (Result<ReceivedEvent, any Error>?, UInt64) in
                if state.closed { return (.failure(AgentClientError.protocolViolation("the agent connection is closed")), 0) }
                if let index = state.events.firstIndex(where: { $0.event.name == name }) {
                    return (.success(state.events.remove(at: index)), 0)
                }
                state.nextWaiterID += 1
                return (nil, state.nextWaiterID)
            }
            if let immediate {
                continuation.resume(with: immediate)
                return
            }
            let timeoutTask = Task {
                try? await Task.sleep(for: timeout)
                guard !Task.isCancelled else { return }
                let waiter = self.state.withLock { $0.eventWaiters.removeValue(forKey: waiterID) }
                waiter?.continuation.resume(throwing: AgentClientError.timeout(verb: "event " + name, seconds: timeout.seconds))
            }
            let registered = state.withLock { state -> Bool in
                guard !state.closed else { return false }
                // An event may have arrived between the two locks.
                if state.events.contains(where: { $0.event.name == name }) { return false }
                state.eventWaiters[waiterID] = EventWaiter(name: name, continuation: continuation, timeout: timeoutTask)
                return true
            }
            if !registered {
                timeoutTask.cancel()
                let late = state.withLock { state -> ReceivedEvent? in
                    guard let index = state.events.firstIndex(where: { $0.event.name == name }) else { return nil }
                    return state.events.remove(at: index)
                }
                if let late {
                    continuation.resume(returning: late)
                } else {
                    continuation.resume(throwing: AgentClientError.protocolViolation("the agent connection is closed"))
                }
            }
        }
    }

    /// Forgets events received so far that nobody waited for.
    public func discardEvents() {
        state.withLock { $0.events.removeAll() }
    }

    public func close() async {
        failAll(AgentClientError.protocolViolation("the agent connection was closed by the host"))
        try? await channel.close()
    }

    private func received(_ line: String, at instant: ContinuousClock.Instant) {
        switch AgentIncoming(line: line) {
        case .event(let event): deliver(ReceivedEvent(event: event, arrivedAt: instant))
        case .response(let response): complete(response.id, with: .success(response))
        case .dropped: break
        }
    }

    private func deliver(_ received: ReceivedEvent) {
        let waiter = state.withLock { state -> EventWaiter? in
            if let entry = state.eventWaiters.filter({ $0.value.name == received.event.name }).min(by: { $0.key < $1.key }) {
                return state.eventWaiters.removeValue(forKey: entry.key)
            }
            state.events.append(received)
            if state.events.count > AgentClient.eventBacklog { state.events.removeFirst() }
            return nil
        }
        guard let waiter else { return }
        waiter.timeout.cancel()
        waiter.continuation.resume(returning: received)
    }

    private func complete(_ id: UInt64, with result: Result<AgentResponse, any Error>) {
        guard let pending = state.withLock({ $0.pending.removeValue(forKey: id) }) else { return }
        pending.timeout.cancel()
        pending.continuation.resume(with: result)
    }

    private func failAll(_ error: AgentClientError) {
        let (all, waiters) = state.withLock { state in
            state.closed = true
            defer {
                state.pending.removeAll()
                state.eventWaiters.removeAll()
            }
            return (Array(state.pending.values), Array(state.eventWaiters.values))
        }
        for pending in all {
            pending.timeout.cancel()
            pending.continuation.resume(throwing: error)
        }
        for waiter in waiters {
            waiter.timeout.cancel()
            waiter.continuation.resume(throwing: error)
        }
    }
}
