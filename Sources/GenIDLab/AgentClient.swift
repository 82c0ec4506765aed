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

    private struct State {
        var nextID: UInt64 = 0
        var pending: [UInt64: Pending] = [:]
        var closed = false
    }

    private let channel: any Channel
    private let state = Mutex(State())

    private init(channel: any Channel) {
        self.channel = channel
    }

    public static func connect(unixSocketPath path: String,
                               group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws
        -> AgentClient {
        let box = Mutex<AgentClient?>(nil)
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineFrameDecoder(maximumLength: agentMaximumLineLength)))
                    try channel.pipeline.syncOperations.addHandler(AgentLineHandler { event in
                        guard let client = box.withLock({ $0 }) else { return }
                        switch event {
                        case .line(let line): client.received(line)
                        case .closed: client.failAll(LabError.agentProtocol("the agent socket closed"))
                        }
                    })
                }
            }
            .connect(unixDomainSocketPath: path).get()
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
                self.complete(id, with: .failure(LabError.agentTimeout(seconds: timeout.seconds, consoleTail: "")))
            }
            let accepted = state.withLock { state -> Bool in
                guard !state.closed else { return false }
                state.pending[id] = Pending(continuation: continuation, timeout: timeoutTask, verb: verb.rawValue)
                return true
            }
            guard accepted else {
                timeoutTask.cancel()
                continuation.resume(throwing: LabError.agentProtocol("the agent connection is closed"))
                return
            }
            channel.writeAndFlush(ByteBuffer(string: line)).whenFailure { error in
                self.complete(id, with: .failure(LabError.agentProtocol("cannot send '\(verb.rawValue)': \(error)")))
            }
        }
        if case .error(let message) = response.outcome {
            throw LabError.agentError(verb: verb.rawValue, message: message)
        }
        return response
    }

    public func close() async {
        failAll(LabError.agentProtocol("the agent connection was closed by the host"))
        try? await channel.close()
    }

    private func received(_ line: String) {
        guard let response = try? AgentResponse(line: line) else { return }  // not ours to answer
        complete(response.id, with: .success(response))
    }

    private func complete(_ id: UInt64, with result: Result<AgentResponse, any Error>) {
        guard let pending = state.withLock({ $0.pending.removeValue(forKey: id) }) else { return }
        pending.timeout.cancel()
        pending.continuation.resume(with: result)
    }

    private func failAll(_ error: LabError) {
        let all = state.withLock { state in
            state.closed = true
            defer { state.pending.removeAll() }
            return Array(state.pending.values)
        }
        for pending in all {
            pending.timeout.cancel()
            pending.continuation.resume(throwing: error)
        }
    }
}

/// Hands each line (or the end of the connection) to the client.
private final class AgentLineHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    enum Event { case line(String), closed }
    let onEvent: @Sendable (Event) -> Void

    init(onEvent: @escaping @Sendable (Event) -> Void) {
        self.onEvent = onEvent
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        onEvent(.line(String(buffer: unwrapInboundIn(data))))
    }

    func channelInactive(context: ChannelHandlerContext) {
        onEvent(.closed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

extension Duration {
    /// Seconds as a Double, for messages and reports.
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
