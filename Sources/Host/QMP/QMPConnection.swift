import Foundation
import Logging
import NIOCore
import Synchronization

/// The state of one QMP connection: the greeting, the commands waiting for a
/// reply, the event history and the event waiters. Thread-safe (one `Mutex`);
/// ``QMPChannelHandler`` feeds it from the event loop, ``QMPClient`` calls it
/// from any task. Continuations are removed from the state under the lock and
/// resumed outside it, so each is resumed exactly once. Reply routing is
/// described on ``QMPClient``.
final class QMPConnection: Sendable {
    /// How many past events `waitForEvent(named:after:...)` can look back over.
    static let historyLimit = 1024
    /// Buffer of the `events` stream: the newest events are kept when nobody reads.
    static let eventBufferLimit = 1024

    let path: String
    let logger: Logger
    let events: AsyncStream<QMPEvent>
    private let eventSink: AsyncStream<QMPEvent>.Continuation
    private let state = Mutex(State())

    private struct Pending {
        var command: String
        var continuation: CheckedContinuation<JSONValue, any Error>
        var timer: Scheduled<Void>?
    }

    private struct EventWaiter {
        var name: String
        var predicate: @Sendable (QMPEvent) -> Bool
        var continuation: CheckedContinuation<QMPEvent, any Error>
        var timer: Scheduled<Void>?
    }

    private enum GreetingState {
        case waiting(CheckedContinuation<QMPGreeting, any Error>?)
        case received(QMPGreeting)
        case failed(QMPError)
    }

    private struct State {
        var channel: (any Channel)?
        var greeting = GreetingState.waiting(nil)
        var greetingTimer: Scheduled<Void>?
        var isClosed = false
        var nextCommandID: Int64 = 0
        var pending: [Int64: Pending] = [:]
        var nextWaiterID = 0
        var waiters: [Int: EventWaiter] = [:]
        var eventCount: UInt64 = 0
        var history: [(sequence: UInt64, event: QMPEvent)] = []

        /// Removes and returns the oldest waiting command.
        mutating func takeOldest() -> (id: Int64, pending: Pending)? {
            guard let id = pending.keys.min(), let oldest = pending.removeValue(forKey: id) else { return nil }
            return (id, oldest)
        }
    }

    init(path: String, logger: Logger) {
        self.path = path
        self.logger = logger
        (events, eventSink) = AsyncStream.makeStream(of: QMPEvent.self,
                                                     bufferingPolicy: .bufferingNewest(Self.eventBufferLimit))
    }

    /// Hands over the connected channel; commands can be sent from now on.
    func attach(_ channel: any Channel) {
        let closed = state.withLock { state in
            state.channel = channel
            return state.isClosed
        }
        if closed { channel.close(promise: nil) }
    }

    // MARK: - Inbound (called by the channel handler)

    func receive(_ line: ByteBuffer) {
        let message: QMPMessage
        do {
            message = try QMPMessage.parse(line.readableBytesView)
        } catch {
            receiveMalformed(error)
            return
        }
        if case .greeting(let greeting) = message {
            if !receiveGreeting(.success(greeting)) { logger.warning("QMP: ignoring an unexpected second greeting") }
            return
        }
        let greetingPending = state.withLock { state in
            if case .waiting = state.greeting { return true }
            return false
        }
        if greetingPending {
            receiveGreeting(.failure(.notQMPGreeting(received: QMPError.excerpt(bytes: line.readableBytesView))))
            return
        }
        switch message {
        case .greeting:
            break
        case .success(let id, let value):
            receiveReply(id: id) { _ in .success(value) }
        case .failure(let id, let errorClass, let description):
            receiveReply(id: id) { command in
                .failure(QMPError.commandFailed(command: command, errorClass: errorClass, description: description))
            }
        case .event(let event):
            receiveEvent(event)
        }
    }

    /// Settles the greeting if it is still awaited; returns false if it was settled already.
    @discardableResult
    private func receiveGreeting(_ result: Result<QMPGreeting, QMPError>) -> Bool {
        let taken = state.withLock { state -> (CheckedContinuation<QMPGreeting, any Error>?, Scheduled<Void>?)? in
            guard case .waiting(let continuation) = state.greeting else { return nil }
            switch result {
            case .success(let greeting): state.greeting = .received(greeting)
            case .failure(let error): state.greeting = .failed(error)
            }
            defer { state.greetingTimer = nil }
            return (continuation, state.greetingTimer)
        }
        guard let (continuation, timer) = taken else { return false }
        timer?.cancel()
        if case .success(let greeting) = result {
            logger.debug("QMP greeting", metadata: ["qemu": "\(greeting.version)", "package": "\(greeting.package)"])
        }
        continuation?.resume(with: result.mapError { $0 as any Error })
        return true
    }

    private func receiveReply(id: JSONValue?, _ makeResult: (String) -> Result<JSONValue, any Error>) {
        let taken: (id: Int64, pending: Pending)? = state.withLock { state in
            guard let id else { return state.takeOldest() }
            guard case .int(let number) = id, let pending = state.pending.removeValue(forKey: number) else {
                return nil
            }
            return (number, pending)
        }
        guard let taken else {
            if id == nil {
                logger.warning("QMP: reply without id and no command waiting; ignored")
            } else {
                logger.debug("QMP: dropping a reply with unknown id (late reply of a timed-out command?)",
                             metadata: ["id": "\(id!)"])
            }
            return
        }
        if id == nil {
            logger.warning("QMP: reply without id, taken as the reply to the oldest waiting command",
                           metadata: ["command": "\(taken.pending.command)"])
        }
        taken.pending.timer?.cancel()
        taken.pending.continuation.resume(with: makeResult(taken.pending.command))
    }

    private func receiveMalformed(_ error: QMPError) {
        let greetingPending = state.withLock { state in
            if case .waiting = state.greeting { return true }
            return false
        }
        if greetingPending, case .malformedMessage(let text, _) = error {
            receiveGreeting(.failure(.notQMPGreeting(received: text)))
            return
        }
        guard let oldest = state.withLock({ $0.takeOldest() }) else {
            logger.warning("QMP: ignoring a malformed message", metadata: ["error": "\(error)"])
            return
        }
        logger.warning("QMP: malformed message, failing the oldest waiting command",
                       metadata: ["command": "\(oldest.pending.command)", "error": "\(error)"])
        oldest.pending.timer?.cancel()
        oldest.pending.continuation.resume(throwing: error)
    }

    private func receiveEvent(_ event: QMPEvent) {
        let matched: [EventWaiter] = state.withLock { state in
            state.eventCount += 1
            state.history.append((state.eventCount, event))
            if state.history.count > Self.historyLimit {
                state.history.removeFirst(state.history.count - Self.historyLimit)
            }
            let ids = state.waiters.filter { $0.value.name == event.name && $0.value.predicate(event) }.keys
            return ids.compactMap { state.waiters.removeValue(forKey: $0) }
        }
        logger.debug("QMP event", metadata: ["event": "\(event.name)"])
        if case .dropped = eventSink.yield(event) {
            logger.debug("QMP: events buffer full, dropped the oldest event")
        }
        for waiter in matched {
            waiter.timer?.cancel()
            waiter.continuation.resume(returning: event)
        }
    }

    // MARK: - Shutdown

    /// Marks the connection closed; fails every waiter with `error`, or with
    /// `connectionClosed` when `error` is nil; finishes the event stream.
    /// Idempotent. Does not close the channel.
    func shutDown(error: QMPError?) {
        let taken = state.withLock { state -> (commands: [Pending], waiters: [EventWaiter],
                                               greeting: CheckedContinuation<QMPGreeting, any Error>?)? in
            guard !state.isClosed else { return nil }
            state.isClosed = true
            let commands = state.pending.sorted { $0.key < $1.key }.map(\.value)
            let waiters = Array(state.waiters.values)
            state.pending = [:]
            state.waiters = [:]
            var greeting: CheckedContinuation<QMPGreeting, any Error>?
            if case .waiting(let continuation) = state.greeting {
                greeting = continuation
                state.greeting = .failed(error ?? .connectionClosed(command: nil))
                state.greetingTimer?.cancel()
                state.greetingTimer = nil
            }
            return (commands, waiters, greeting)
        }
        guard let taken else { return }
        logger.debug("QMP connection closed", metadata: error.map { ["error": "\($0)"] } ?? [:])
        for command in taken.commands {
            command.timer?.cancel()
            command.continuation.resume(throwing: error ?? .connectionClosed(command: command.command))
        }
        for waiter in taken.waiters {
            waiter.timer?.cancel()
            waiter.continuation.resume(throwing: error ?? .connectionClosed(command: nil))
        }
        taken.greeting?.resume(throwing: error ?? .connectionClosed(command: nil))
        eventSink.finish()
    }

    /// Shuts down and closes the channel, waiting until it is closed.
    func close() async {
        shutDown(error: nil)
        let channel = state.withLock { $0.channel }
        try? await channel?.close()
    }

    /// Shuts down and starts closing the channel without waiting.
    func closeNow() {
        shutDown(error: nil)
        state.withLock { $0.channel }?.close(promise: nil)
    }

    // MARK: - Greeting

    /// Waits up to `timeout` for the greeting; a timeout error reports `reportedTimeout`
    /// (the caller's whole budget). Cancelling the task closes the connection.
    func waitForGreeting(timeout: Duration, reportedTimeout: Duration) async throws -> QMPGreeting {
        try await withTaskCancellationHandler {
            try await awaitGreeting(timeout: timeout, reportedTimeout: reportedTimeout)
        } onCancel: {
            closeNow()
        }
    }

    private func awaitGreeting(timeout: Duration, reportedTimeout: Duration) async throws -> QMPGreeting {
        try await withCheckedThrowingContinuation { continuation in
            let ready: Result<QMPGreeting, QMPError>? = state.withLock { state in
                switch state.greeting {
                case .received(let greeting): return .success(greeting)
                case .failed(let error): return .failure(error)
                case .waiting:
                    state.greeting = .waiting(continuation)
                    return nil
                }
            }
            if let ready {
                continuation.resume(with: ready.mapError { $0 as any Error })
                return
            }
            let path = self.path
            let timer = state.withLock { $0.channel }?.eventLoop.scheduleTask(in: TimeAmount(timeout)) { [self] in
                _ = receiveGreeting(.failure(.noGreeting(path: path, seconds: reportedTimeout.qmpSeconds)))
            }
            let stillWaiting = state.withLock { state in
                guard case .waiting = state.greeting else { return false }
                state.greetingTimer = timer
                return true
            }
            if !stillWaiting { timer?.cancel() }
        }
    }

    // MARK: - Commands

    func execute(_ command: String, arguments: [String: JSONValue]?, timeout: Duration) async throws -> JSONValue {
        let id = state.withLock { state in
            state.nextCommandID += 1
            return state.nextCommandID
        }
        var request: [String: JSONValue] = ["execute": .string(command), "id": .int(id)]
        if let arguments { request["arguments"] = .object(arguments) }
        var payload: Data
        do {
            payload = try JSONValue.object(request).jsonData()
        } catch {
            throw QMPError.invalidArguments(command: command, reason: "\(error)")
        }
        payload.append(contentsOf: [0x0D, 0x0A])

        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let channel: (any Channel)? = state.withLock { state in
                    guard !state.isClosed, let channel = state.channel else { return nil }
                    state.pending[id] = Pending(command: command, continuation: continuation)
                    return channel
                }
                guard let channel else {
                    continuation.resume(throwing: QMPError.connectionClosed(command: command))
                    return
                }
                if Task.isCancelled {
                    finishCommand(id, with: .failure(CancellationError()))
                    return
                }
                let timer = channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) { [self] in
                    finishCommand(id, with: .failure(QMPError.timeout(command: command, seconds: timeout.qmpSeconds)))
                }
                let stillPending = state.withLock { state in
                    state.pending[id]?.timer = timer
                    return state.pending[id] != nil
                }
                if !stillPending { timer.cancel() }
                logger.debug("QMP command", metadata: ["command": "\(command)", "id": "\(id)"])
                channel.writeAndFlush(ByteBuffer(bytes: payload)).whenFailure { [self] error in
                    logger.debug("QMP: write failed", metadata: ["error": "\(error)"])
                    finishCommand(id, with: .failure(QMPError.connectionClosed(command: command)))
                }
            }
        } onCancel: {
            finishCommand(id, with: .failure(CancellationError()))
        }
    }

    /// Completes command `id` if it is still waiting.
    private func finishCommand(_ id: Int64, with result: Result<JSONValue, any Error>) {
        guard let pending = state.withLock({ $0.pending.removeValue(forKey: id) }) else { return }
        pending.timer?.cancel()
        pending.continuation.resume(with: result)
    }

    // MARK: - Events

    func eventMark() -> QMPEventMark {
        state.withLock { QMPEventMark(sequence: $0.eventCount) }
    }

    func waitForEvent(named name: String, after mark: QMPEventMark?, timeout: Duration,
                      where predicate: @escaping @Sendable (QMPEvent) -> Bool) async throws -> QMPEvent {
        let waiterID = state.withLock { state in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                enum Outcome { case found(QMPEvent), closed, registered(any Channel) }
                let outcome: Outcome = state.withLock { state in
                    if let mark, let hit = state.history.first(where: {
                        $0.sequence > mark.sequence && $0.event.name == name && predicate($0.event)
                    }) {
                        return .found(hit.event)
                    }
                    guard !state.isClosed, let channel = state.channel else { return .closed }
                    state.waiters[waiterID] = EventWaiter(name: name, predicate: predicate, continuation: continuation)
                    return .registered(channel)
                }
                switch outcome {
                case .found(let event):
                    continuation.resume(returning: event)
                case .closed:
                    continuation.resume(throwing: QMPError.connectionClosed(command: nil))
                case .registered(let channel):
                    if Task.isCancelled {
                        finishWaiter(waiterID, with: .failure(CancellationError()))
                        return
                    }
                    let timer = channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) { [self] in
                        finishWaiter(waiterID, with: .failure(QMPError.eventTimeout(event: name, seconds: timeout.qmpSeconds)))
                    }
                    let stillWaiting = state.withLock { state in
                        state.waiters[waiterID]?.timer = timer
                        return state.waiters[waiterID] != nil
                    }
                    if !stillWaiting { timer.cancel() }
                }
            }
        } onCancel: {
            finishWaiter(waiterID, with: .failure(CancellationError()))
        }
    }

    private func finishWaiter(_ id: Int, with result: Result<QMPEvent, any Error>) {
        guard let waiter = state.withLock({ $0.waiters.removeValue(forKey: id) }) else { return }
        waiter.timer?.cancel()
        waiter.continuation.resume(with: result)
    }
}
