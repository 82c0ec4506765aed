import Foundation
import Logging
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An async client for one QEMU QMP monitor on a UNIX socket.
///
/// ```swift
/// let qmp = try await QMPClient.connect(unixSocketPath: "/run/vm/qmp.sock",
///                                       retryUntil: .now + .seconds(5))
/// let status = try await qmp.execute("query-status")        // {"running": false, ...}
/// let text = try await qmp.humanMonitorCommand("info status")
/// await qmp.close()
/// ```
///
/// Commands may be called from many tasks at once; each carries an integer `id`
/// and QEMU (which runs them one at a time, in order) echoes it in its reply:
/// - a reply with an unknown `id` is dropped (logged at debug level): it is the
///   late reply of a command that timed out or was cancelled;
/// - a reply without `id` completes the oldest waiting command (logged as a
///   warning): QEMU omits the id only when it could not parse a request;
/// - a line that is not valid QMP fails the oldest waiting command with
///   ``QMPError/malformedMessage(text:reason:)`` (it was most likely that reply)
///   and the connection goes on; with no command waiting it is logged and ignored;
/// - a message longer than 16 MiB closes the connection, failing every waiting
///   call with `malformedMessage`.
///
/// When QEMU exits or ``close()`` is called, every waiting call fails at once
/// with ``QMPError/connectionClosed(command:)`` and ``events`` finishes.
/// Dropping the last reference to the client closes the connection too.
public final class QMPClient: Sendable {
    /// The greeting QEMU sent; `"\(greeting.version)"` is e.g. `"7.2.0"`.
    public let greeting: QMPGreeting
    /// The socket this client is connected to.
    public let socketPath: String
    private let connection: QMPConnection

    private init(greeting: QMPGreeting, socketPath: String, connection: QMPConnection) {
        self.greeting = greeting
        self.socketPath = socketPath
        self.connection = connection
    }

    deinit {
        connection.closeNow()
    }

    // MARK: Connecting

    /// Connects to `unixSocketPath`, reads the greeting and negotiates capabilities,
    /// all within `timeout`. Fails at once if the socket is missing or refuses
    /// (see ``connect(unixSocketPath:retryUntil:timeout:eventLoopGroup:logger:)`` to wait for it).
    public static func connect(
        unixSocketPath: String,
        timeout: Duration = .seconds(10),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "genid.qmp")
    ) async throws -> QMPClient {
        try await connect(unixSocketPath: unixSocketPath, timeout: timeout, eventLoopGroup: eventLoopGroup,
                          logger: logger, maximumMessageLength: LineSplitter.defaultMaximumLength)
    }

    /// Like ``connect(unixSocketPath:timeout:eventLoopGroup:logger:)``, but while the
    /// socket does not exist yet (`ENOENT`) or nobody listens on it (`ECONNREFUSED`),
    /// tries again every 50 ms until `deadline`; then throws the last error.
    /// QEMU creates its socket a moment after it starts. `timeout` bounds each try.
    public static func connect(
        unixSocketPath: String,
        retryUntil deadline: ContinuousClock.Instant,
        timeout: Duration = .seconds(10),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "genid.qmp")
    ) async throws -> QMPClient {
        let retryInterval = Duration.milliseconds(50)
        while true {
            do {
                return try await connect(unixSocketPath: unixSocketPath, timeout: timeout,
                                         eventLoopGroup: eventLoopGroup, logger: logger)
            } catch let error as QMPError {
                guard case .connectionFailed(_, let code?, _) = error, code == ENOENT || code == ECONNREFUSED,
                      ContinuousClock.now + retryInterval < deadline
                else { throw error }
                try await Task.sleep(for: retryInterval)
            }
        }
    }

    static func connect(
        unixSocketPath path: String,
        timeout: Duration,
        eventLoopGroup: any EventLoopGroup,
        logger: Logger,
        maximumMessageLength: Int
    ) async throws -> QMPClient {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var logger = logger
        logger[metadataKey: "qmp.socket"] = "\(path)"
        let connection = QMPConnection(path: path, logger: logger)

        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoopGroup)
                .connectTimeout(TimeAmount(timeout))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        try pipeline.addHandler(ByteToMessageHandler(LineFrameDecoder(maximumLength: maximumMessageLength)))
                        try pipeline.addHandler(QMPChannelHandler(connection: connection))
                    }
                }
                .connect(unixDomainSocketPath: path)
                .get()
        } catch {
            connection.shutDown(error: nil)
            throw connectionFailed(path: path, error: error)
        }
        connection.attach(channel)

        do {
            let greeting: QMPGreeting
            do {
                greeting = try await connection.waitForGreeting(timeout: deadline - clock.now, reportedTimeout: timeout)
            } catch QMPError.connectionClosed {
                throw QMPError.connectionFailed(
                    path: path, errno: nil,
                    description: "the peer closed the connection before sending a QMP greeting")
            }
            do {
                _ = try await connection.execute("qmp_capabilities", arguments: nil, timeout: deadline - clock.now)
            } catch QMPError.commandFailed(_, let errorClass, let description) {
                throw QMPError.capabilitiesNegotiationFailed(reason: "\(errorClass): \(description)")
            } catch QMPError.timeout(let command, _) {
                throw QMPError.timeout(command: command, seconds: timeout.qmpSeconds)
            }
            logger.debug("QMP connected", metadata: ["qemu": "\(greeting.version)"])
            return QMPClient(greeting: greeting, socketPath: path, connection: connection)
        } catch {
            await connection.close()
            if Task.isCancelled { throw CancellationError() }
            throw error
        }
    }

    private static func connectionFailed(path: String, error: any Error) -> QMPError {
        switch error {
        case let error as IOError:
            return .connectionFailed(path: path, errno: error.errnoCode,
                                     description: String(cString: strerror(error.errnoCode)))
        case SocketAddressError.unixDomainSocketPathTooLong:
            return .connectionFailed(path: path, errno: nil,
                                     description: "the path is too long for a UNIX socket address (107 bytes at most)")
        default:
            return .connectionFailed(path: path, errno: nil, description: "\(error)")
        }
    }

    // MARK: Commands

    /// Runs `command` and returns its `return` value (often an empty object).
    ///
    /// - Throws: ``QMPError/commandFailed(command:errorClass:description:)`` when QEMU answers
    ///   with an error; ``QMPError/timeout(command:seconds:)`` after `timeout` (a late reply is
    ///   dropped); ``QMPError/connectionClosed(command:)``; ``QMPError/malformedMessage(text:reason:)``
    ///   when the reply does not parse; `CancellationError` when the task is cancelled
    ///   (QEMU may still run the command).
    @discardableResult
    public func execute(
        _ command: String,
        arguments: [String: JSONValue]? = nil,
        timeout: Duration = .seconds(30)
    ) async throws -> JSONValue {
        try await connection.execute(command, arguments: arguments, timeout: timeout)
    }

    /// Runs `command` and decodes its `return` value as `R`, throwing
    /// ``QMPError/unexpectedReturn(command:value:reason:)`` when it does not fit.
    public func execute<R: Decodable>(
        _ command: String,
        arguments: [String: JSONValue]? = nil,
        timeout: Duration = .seconds(30),
        as type: R.Type
    ) async throws -> R {
        let value = try await execute(command, arguments: arguments, timeout: timeout)
        do {
            return try value.decode(as: R.self)
        } catch {
            throw QMPError.unexpectedReturn(command: command, value: QMPError.excerpt(value.description),
                                            reason: "cannot decode \(R.self): \(error)")
        }
    }

    /// Runs an HMP command line (e.g. `"info status"`) through `human-monitor-command`
    /// and returns its output, lines ending in `"\r\n"` (QEMU 7.2: `"VM status: paused (prelaunch)\r\n"`).
    /// A failing HMP command still succeeds at the QMP level, with the error in the
    /// text (an unknown one returns `"unknown command: 'x'\r\n"`).
    public func humanMonitorCommand(_ commandLine: String, timeout: Duration = .seconds(30)) async throws -> String {
        let command = "human-monitor-command"
        let value = try await execute(command, arguments: ["command-line": .string(commandLine)], timeout: timeout)
        guard let text = value.stringValue else {
            throw QMPError.unexpectedReturn(command: command, value: QMPError.excerpt(value.description),
                                            reason: "expected a string")
        }
        return text
    }

    // MARK: Events

    /// Every event since the connection was made, in order, for one consumer.
    ///
    /// The stream exists from before the greeting, so no event is lost between
    /// `connect` and the first `for await`. It keeps the newest 1024 events not
    /// yet read (older ones are dropped) and finishes when the connection closes.
    /// It is one stream: iterate it from one task only. ``waitForEvent(named:after:timeout:where:)``
    /// does not consume from it; both see every event.
    public var events: AsyncStream<QMPEvent> { connection.events }

    /// A position in the event history, to pass to ``waitForEvent(named:after:timeout:where:)``
    /// so that an event arriving before the wait starts is not missed.
    public func eventMark() -> QMPEventMark {
        connection.eventMark()
    }

    /// Waits for the next event called `name` for which `predicate` holds.
    ///
    /// With `mark`, an event received after the mark counts even if it arrived
    /// before this call (the client keeps the last 1024 events):
    /// ```swift
    /// let mark = qmp.eventMark()
    /// try await qmp.execute("stop")
    /// try await qmp.waitForEvent(named: "STOP", after: mark)
    /// ```
    /// Without `mark`, only events arriving after the call count. `predicate`
    /// runs under the client's lock: keep it quick and do not call the client in it.
    ///
    /// - Throws: ``QMPError/eventTimeout(event:seconds:)``, ``QMPError/connectionClosed(command:)``,
    ///   `CancellationError`.
    @discardableResult
    public func waitForEvent(
        named name: String,
        after mark: QMPEventMark? = nil,
        timeout: Duration = .seconds(30),
        where predicate: @escaping @Sendable (QMPEvent) -> Bool = { _ in true }
    ) async throws -> QMPEvent {
        try await connection.waitForEvent(named: name, after: mark, timeout: timeout, where: predicate)
    }

    // MARK: Closing

    /// Closes the connection. Idempotent. Waiting commands fail with
    /// ``QMPError/connectionClosed(command:)``; ``events`` finishes.
    public func close() async {
        await connection.close()
    }
}
