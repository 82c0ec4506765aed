import Foundation
import GuestAgent
import NIOCore
import NIOPosix
import Synchronization

/// The host end of the QEMU guest agent (`qemu-ga`, the agent distribution
/// images ship) on its virtio-serial port `org.qemu.guest_agent.0`, which
/// QEMU relays to a UNIX socket.
///
/// The agent's protocol is QMP's JSON, one request at a time, with no
/// greeting. A guest that was restored from a snapshot may hold half a
/// request or an old answer in its port, so every conversation starts with
/// `guest-sync-delimited`: a 0xFF byte resets the agent's parser, and lines
/// are dropped until the answer carrying this sync's random id arrives.
public final class QEMUGuestAgentClient: Sendable {
    /// The port name qemu-ga looks for, and the name the lab gives its channel.
    public static let portName = "org.qemu.guest_agent.0"

    /// What a command run in the guest did.
    public struct CommandResult: Sendable, Equatable {
        public var exitCode: Int?
        public var signal: Int?
        public var standardOutput: String
        public var standardError: String
        /// The agent keeps only the first 16 MiB of each stream.
        public var truncated: Bool

        public var succeeded: Bool { exitCode == 0 && signal == nil }
    }

    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<String, any Error>
    }

    private struct State {
        var lines: [String] = []
        var waiter: Waiter?
        var nextWaiterID: UInt64 = 0
        var closed = false
    }

    private let channel: any Channel
    private let state = Mutex(State())

    private init(channel: any Channel) {
        self.channel = channel
    }

    public static func connect(unixSocketPath path: String,
                               group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws
        -> QEMUGuestAgentClient {
        let box = Mutex<QEMUGuestAgentClient?>(nil)
        let channel = try await LineChannel.connect(unixSocketPath: path, group: group) { event in
            guard let client = box.withLock({ $0 }) else { return }
            switch event {
            case .line(let line, _):
                // The answer to a delimited sync comes after a 0xFF.
                let bytes = line.readableBytesView
                let start = bytes.lastIndex(of: 0xFF).map { bytes.index(after: $0) } ?? bytes.startIndex
                client.received(String(decoding: bytes[start...], as: UTF8.self))
            case .closed:
                client.received(nil)
            }
        }
        let client = QEMUGuestAgentClient(channel: channel)
        box.withLock { $0 = client }
        return client
    }

    public func close() async {
        received(nil)
        try? await channel.close()
    }

    /// Resets the agent's parser and drops every line until the answer to
    /// this sync; fails if the agent does not answer within `timeout`.
    public func synchronize(timeout: Duration = .seconds(5)) async throws {
        let id = Int.random(in: 1...Int(Int32.max))
        state.withLock { $0.lines.removeAll() }
        try await send([0xFF] + Array(try Self.request("guest-sync-delimited", ["id": id]).utf8))
        let deadline = ContinuousClock.now + timeout
        while true {
            let line = try await nextLine(until: deadline, command: "guest-sync-delimited")
            if let answer = try? JSONDecoder().decode(Envelope<Int>.self, from: Data(line.utf8)), answer.return == id {
                return
            }
        }
    }

    /// Sends one command and decodes its `return` member; an agent's
    /// `error` answer becomes `LabError.agentError`.
    public func execute<Arguments: Encodable, Result: Decodable>(
        _ command: String, _ arguments: Arguments, as: Result.Type, timeout: Duration = .seconds(10)
    ) async throws -> Result {
        try await send(Array(try Self.request(command, arguments).utf8))
        let deadline = ContinuousClock.now + timeout
        while true {
            let line = try await nextLine(until: deadline, command: command)
            // Lines that are not an answer (a late one to an earlier sync) are skipped.
            guard let answer = try? JSONDecoder().decode(Envelope<Result>.self, from: Data(line.utf8)) else { continue }
            if let error = answer.error { throw LabError.agentError(verb: command, message: error.desc) }
            if let result = answer.return { return result }
        }
    }

    /// Runs `argv` in the guest (`guest-exec` with its output captured)
    /// and polls until it exits; a command still running at `timeout` is
    /// reported as such (the agent has no way to stop it).
    public func run(_ argv: [String], timeout: Duration = .seconds(30)) async throws -> CommandResult {
        guard let path = argv.first else { throw LabError.invalidArgument("an empty command") }
        let started = try await execute("guest-exec", ExecRequest(path: path, arg: Array(argv.dropFirst())),
                                        as: ExecStarted.self)
        let deadline = ContinuousClock.now + timeout
        while true {
            let status = try await execute("guest-exec-status", ["pid": started.pid], as: ExecStatus.self)
            if status.exited {
                return CommandResult(exitCode: status.exitcode, signal: status.signal,
                                     standardOutput: Self.decodeBase64(status.outData),
                                     standardError: Self.decodeBase64(status.errData),
                                     truncated: status.outTruncated == true || status.errTruncated == true)
            }
            guard ContinuousClock.now < deadline else {
                throw LabError.agentError(verb: "guest-exec",
                                          message: "'\(argv.joined(separator: " "))' still runs after \(timeout.seconds) s")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    // MARK: - Wire

    private struct Request<Arguments: Encodable>: Encodable {
        let execute: String
        let arguments: Arguments
    }

    private struct Envelope<Result: Decodable>: Decodable {
        struct Failure: Decodable { let desc: String }
        let `return`: Result?
        let error: Failure?
    }

    private struct ExecRequest: Encodable {
        let path: String
        let arg: [String]
        let captureOutput = true
        enum CodingKeys: String, CodingKey { case path, arg, captureOutput = "capture-output" }
    }

    private struct ExecStarted: Decodable { let pid: Int }

    private struct ExecStatus: Decodable {
        let exited: Bool
        let exitcode: Int?
        let signal: Int?
        let outData: String?
        let errData: String?
        let outTruncated: Bool?
        let errTruncated: Bool?
        enum CodingKeys: String, CodingKey {
            case exited, exitcode, signal
            case outData = "out-data", errData = "err-data", outTruncated = "out-truncated", errTruncated = "err-truncated"
        }
    }

    static func request<Arguments: Encodable>(_ command: String, _ arguments: Arguments) throws -> String {
        String(decoding: try JSONEncoder().encode(Request(execute: command, arguments: arguments)), as: UTF8.self) + "\n"
    }

    static func decodeBase64(_ text: String?) -> String {
        guard let text, let data = Data(base64Encoded: text) else { return "" }
        return String(decoding: data, as: UTF8.self)
    }

    private func send(_ bytes: [UInt8]) async throws {
        do {
            try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
        } catch {
            throw LabError.agentProtocol("cannot write to the QEMU guest agent's socket: \(error)")
        }
    }

    /// A line, or nil at the end of the connection.
    private func received(_ line: String?) {
        let waiter = state.withLock { state -> Waiter? in
            guard let line else {
                state.closed = true
                return state.waiter.take()
            }
            state.lines.append(line)
            return state.waiter.take()
        }
        guard let waiter else { return }
        let next = state.withLock { state in state.lines.isEmpty ? nil : state.lines.removeFirst() }
        if let next {
            waiter.continuation.resume(returning: next)
        } else {
            waiter.continuation.resume(throwing: LabError.agentProtocol("the QEMU guest agent's socket closed"))
        }
    }

    private func nextLine(until deadline: ContinuousClock.Instant, command: String) async throws -> String {
        let id = state.withLock { state in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        // The timer starts once the waiter is registered, so it cannot miss it.
        let timer = Mutex<Task<Void, Never>?>(nil)
        defer { timer.withLock { $0?.cancel() } }
        return try await withCheckedThrowingContinuation { continuation in
            let immediate = state.withLock { state -> Result<String, any Error>? in
                if !state.lines.isEmpty { return .success(state.lines.removeFirst()) }
                if state.closed { return .failure(LabError.agentProtocol("the QEMU guest agent's socket closed")) }
                state.waiter = Waiter(id: id, continuation: continuation)
                return nil
            }
            if let immediate {
                continuation.resume(with: immediate)
                return
            }
            timer.withLock {
                $0 = Task {
                    try? await Task.sleep(until: deadline)
                    guard !Task.isCancelled else { return }
                    let waiter = self.state.withLock { state -> Waiter? in
                        guard state.waiter?.id == id else { return nil }
                        return state.waiter.take()
                    }
                    waiter?.continuation.resume(throwing: LabError.agentError(
                        verb: command, message: "no answer from the QEMU guest agent (qemu-ga) in the guest"))
                }
            }
        }
    }
}
