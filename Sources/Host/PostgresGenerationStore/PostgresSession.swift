import GenerationStore
import Logging
import PostgresNIO
import Synchronization

/// One connection to the fleet ledger, opened when first needed and again
/// after it broke: when the server comes back, the next operation simply
/// succeeds. Every operation has a deadline, so a server that went away
/// answers "unavailable" within `timeout` instead of holding a VM paused.
actor PostgresSession {
    let location: PostgresLocation
    let timeout: Duration
    private let logger: Logger
    private var connection: PostgresConnection?
    private var connecting: Task<PostgresConnection, any Error>?
    private var connectionCount = 0

    init(location: PostgresLocation, timeout: Duration, logger: Logger) {
        self.location = location
        self.timeout = timeout
        self.logger = logger
    }

    /// Runs `body` on the connection within `timeout`. Any failure becomes a
    /// `StoreError` naming the ledger and `action`; a failure of the
    /// connection itself (not of one statement) drops it for the next call.
    func perform<T: Sendable>(_ action: String,
                              _ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> T) async throws -> T {
        let logger = logger
        do {
            return try await withDeadline(timeout, onTimeout: { [self] in await self.drop() }) { [self] in
                try await body(try await self.connected(), logger)
            }
        } catch let error as StoreError {
            throw error
        } catch {
            if !PostgresErrors.isStatementError(error) { await drop() }
            throw PostgresErrors.translate(error, location: location, action: action, timeout: timeout)
        }
    }

    func close() async {
        await drop()
    }

    /// A store dropped without `close()` (a command that just ends) closes
    /// its connection here; the closure keeps the connection alive until
    /// it is closed, as PostgresNIO requires.
    deinit {
        if let connection {
            connection.close().whenComplete { _ in _ = connection }
        }
    }

    private func connected() async throws -> PostgresConnection {
        if let connection, !connection.isClosed { return connection }
        if let connecting { return try await connecting.value }
        connectionCount += 1
        let (configuration, id, logger) = (location.configuration, connectionCount, logger)
        var options = configuration
        let (seconds, attoseconds) = timeout.components
        options.options.connectTimeout = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        let task = Task { [options] in
            let connection = try await PostgresConnection.connect(configuration: options, id: id, logger: logger)
            do {
                try await PostgresSchema.prepare(connection, logger: logger)
            } catch {
                try? await connection.close()
                throw error
            }
            return connection
        }
        connecting = task
        defer { connecting = nil }
        let made = try await task.value
        connection = made
        return made
    }

    private func drop() async {
        let dropped = connection
        connection = nil
        try? await dropped?.close()
    }
}

/// Runs `body`, or throws `DeadlineExceeded` once `limit` has passed.
/// `onTimeout` must make `body` return (closing the connection fails the
/// query it waits for): a task group waits for every child, even cancelled.
func withDeadline<T: Sendable>(_ limit: Duration, onTimeout: @escaping @Sendable () async -> Void,
                               _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let expired = ExpiryFlag()
    return try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            expired.set()
            await onTimeout()
            throw DeadlineExceeded()
        }
        defer { group.cancelAll() }
        do {
            return try await group.next()!
        } catch {
            // The body's own failure (the connection it lost) is the deadline's doing.
            throw expired.isSet ? DeadlineExceeded() : error
        }
    }
}

struct DeadlineExceeded: Error {}

private final class ExpiryFlag: Sendable {
    private let flag = Mutex(false)
    func set() { flag.withLock { $0 = true } }
    var isSet: Bool { flag.withLock { $0 } }
}
