import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing
@testable import QMP

struct TestTimeout: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out: \(what)" }
}

/// Runs `body`, throwing `TestTimeout` if it takes longer than `limit`.
func withTimeout<T: Sendable>(
    _ limit: Duration, _ what: String = "operation", _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw TestTimeout(what: what)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// A FIFO whose `next()` waits; one reader at a time. `next()` returns nil once finished and empty.
final class AsyncQueue<Element: Sendable>: Sendable {
    private struct State {
        var items: [Element] = []
        var finished = false
        var waiter: CheckedContinuation<Element?, Never>?
    }

    private let state = Mutex(State())

    func push(_ item: Element) {
        let waiter = state.withLock { state -> CheckedContinuation<Element?, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.items.append(item)
            return nil
        }
        waiter?.resume(returning: item)
    }

    func finish() {
        let waiter = state.withLock { state in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// The next item; nil when finished, or when the task is cancelled.
    func next() async -> Element? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready: Element?? = state.withLock { state in
                    if !state.items.isEmpty { return .some(state.items.removeFirst()) }
                    if state.finished { return .some(nil) }
                    precondition(state.waiter == nil, "AsyncQueue has one reader")
                    state.waiter = continuation
                    return .none
                }
                if let ready {
                    continuation.resume(returning: ready)
                } else if Task.isCancelled {
                    cancelWaiter()
                }
            }
        } onCancel: {
            cancelWaiter()
        }
    }

    private func cancelWaiter() {
        let waiter = state.withLock { state in
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }
}

/// Collects the lines a fake-server connection receives.
private final class LineCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let lines: AsyncQueue<String>

    init(lines: AsyncQueue<String>) { self.lines = lines }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lines.push(String(buffer: Self.unwrapInboundIn(data)))
    }

    func channelInactive(context: ChannelHandlerContext) {
        lines.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// One command as the fake server received it.
struct ReceivedCommand: Sendable {
    var name: String
    var id: JSONValue?
    var arguments: JSONValue?
}

/// The server's side of one client connection, driven step by step by a test.
final class FakePeer: Sendable {
    let channel: any Channel
    let lines: AsyncQueue<String>

    init(channel: any Channel, lines: AsyncQueue<String>) {
        self.channel = channel
        self.lines = lines
    }

    static let greeting = #"{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7"}, "capabilities": ["oob"]}}"#

    /// Sends `text` followed by CRLF, as QEMU does.
    func send(_ text: String) async throws {
        try await sendRaw(Array((text + "\r\n").utf8))
    }

    func sendRaw(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
    }

    func send(_ value: JSONValue) async throws {
        try await send(value.description)
    }

    /// The next line from the client; throws if none comes within `limit` or the client hung up.
    func readLine(within limit: Duration = .seconds(5)) async throws -> String {
        let lines = self.lines
        guard let line = try await withTimeout(limit, "reading a line", { await lines.next() }) else {
            throw TestTimeout(what: "client closed the connection while the server was reading")
        }
        return line
    }

    func readCommand(within limit: Duration = .seconds(5)) async throws -> ReceivedCommand {
        let line = try await readLine(within: limit)
        let value = try JSONValue(parsing: Array(line.utf8))
        guard let name = value["execute"]?.stringValue else {
            throw TestTimeout(what: "expected a command, got \(line)")
        }
        return ReceivedCommand(name: name, id: value["id"], arguments: value["arguments"])
    }

    /// True once the client has closed its end (within `limit`).
    func waitForClientClose(within limit: Duration = .seconds(5)) async throws -> Bool {
        let lines = self.lines
        return try await withTimeout(limit, "waiting for the client to close") {
            while await lines.next() != nil {}
            return true
        }
    }

    func reply(to command: ReceivedCommand, _ value: JSONValue = .object([:])) async throws {
        var reply: [String: JSONValue] = ["return": value]
        if let id = command.id { reply["id"] = id }
        try await send(.object(reply))
    }

    func replyError(to command: ReceivedCommand, class errorClass: String, desc: String) async throws {
        var reply: [String: JSONValue] = ["error": ["class": .string(errorClass), "desc": .string(desc)]]
        if let id = command.id { reply["id"] = id }
        try await send(.object(reply))
    }

    func sendEvent(_ name: String, data: JSONValue? = nil) async throws {
        var event: [String: JSONValue] = ["event": .string(name),
                                          "timestamp": ["seconds": 1_700_000_000, "microseconds": 123_456]]
        if let data { event["data"] = data }
        try await send(.object(event))
    }

    /// Greeting, then answers `qmp_capabilities` with `{}`.
    func handshake() async throws {
        try await send(Self.greeting)
        let command = try await readCommand()
        guard command.name == "qmp_capabilities" else {
            throw TestTimeout(what: "expected qmp_capabilities, got \(command.name)")
        }
        try await reply(to: command)
    }

    func close() async {
        try? await channel.close()
    }
}

/// A scripted QMP server on a real UNIX socket in a fresh temporary directory.
final class FakeQMPServer: Sendable {
    let directory: String
    let path: String
    private let serverChannel: any Channel
    private let peers: AsyncQueue<FakePeer>
    private let allPeers: Mutex<[FakePeer]>

    private init(directory: String, path: String, serverChannel: any Channel, peers: AsyncQueue<FakePeer>) {
        self.directory = directory
        self.path = path
        self.serverChannel = serverChannel
        self.peers = peers
        self.allPeers = Mutex([])
    }

    static func makeTemporaryDirectory() throws -> String {
        var template = Array("/tmp/qmptest.XXXXXX".utf8CString)
        guard let result = mkdtemp(&template) else { throw POSIXError(.EIO) }
        return String(cString: result)
    }

    static func start(at path: String? = nil) async throws -> FakeQMPServer {
        let directory = try path.map { ($0 as NSString).deletingLastPathComponent } ?? makeTemporaryDirectory()
        let path = path ?? directory + "/qmp.sock"
        let peers = AsyncQueue<FakePeer>()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    let lines = AsyncQueue<String>()
                    try child.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineFrameDecoder()))
                    try child.pipeline.syncOperations.addHandler(LineCollector(lines: lines))
                    peers.push(FakePeer(channel: child, lines: lines))
                }
            }
            .bind(unixDomainSocketPath: path)
            .get()
        return FakeQMPServer(directory: directory, path: path, serverChannel: channel, peers: peers)
    }

    /// The next accepted connection.
    func nextPeer(within limit: Duration = .seconds(5)) async throws -> FakePeer {
        let peers = self.peers
        guard let peer = try await withTimeout(limit, "accepting a connection", { await peers.next() }) else {
            throw TestTimeout(what: "server stopped")
        }
        allPeers.withLock { $0.append(peer) }
        return peer
    }

    /// Closes the listener and every connection, and removes the socket and its directory.
    func shutdown() async {
        try? await serverChannel.close()
        for peer in allPeers.withLock({ $0 }) { await peer.close() }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Runs `body` with a fresh server and always shuts it down (removing the socket file).
func withFakeServer(_ body: (FakeQMPServer) async throws -> Void) async throws {
    let server = try await FakeQMPServer.start()
    do {
        try await body(server)
    } catch {
        await server.shutdown()
        throw error
    }
    await server.shutdown()
    #expect(!FileManager.default.fileExists(atPath: server.path))
}

/// Connects a client to `server` and plays the server's side of the handshake.
func connectClient(to server: FakeQMPServer) async throws -> (QMPClient, FakePeer) {
    async let client = QMPClient.connect(unixSocketPath: server.path, timeout: .seconds(5))
    let peer = try await server.nextPeer()
    try await peer.handshake()
    return (try await client, peer)
}
