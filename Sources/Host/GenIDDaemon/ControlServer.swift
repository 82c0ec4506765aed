import Foundation
import GenIDControl
import Logging
import ServiceLifecycle
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// genidd's control socket: one JSON request line per connection, one JSON
/// response line. Who may ask what is decided from the kernel's record of
/// the peer (`ControlAccess`); every connection is counted against a
/// limit per uid and in all (`DescriptorBudget`), and has one deadline for
/// its request.
final class ControlServer: Service, Sendable {
    /// A request line must arrive whole within this, however it trickles in.
    static let requestDeadline = Duration.seconds(10)

    let path: String
    let access: ControlAccess
    let handler: ControlHandler
    let metrics: DaemonMetrics
    let logger: Logger
    let connections: ConnectionLimits
    private let refusalLog = Throttle()
    private let stopping = Atomic<Bool>(false)

    init(configuration: DaemonConfiguration, budget: DescriptorBudget, handler: ControlHandler,
         metrics: DaemonMetrics, logger: Logger) throws(DaemonError) {
        connections = ConnectionLimits(total: budget.controlConnections, perUser: budget.controlConnectionsPerUser,
                                       reserved: budget.controlConnectionsPerUser)
        path = configuration.controlSocket
        access = ControlAccess(controlGroupID: try Self.groupID(configuration.controlGroup, key: "controlGroup"),
                               readOnlyGroupID: try Self.groupID(configuration.readOnlyGroup, key: "readOnlyGroup"))
        self.handler = handler
        self.metrics = metrics
        self.logger = logger
    }

    private static func groupID(_ name: String?, key: String) throws(DaemonError) -> UInt32? {
        guard let name else { return nil }
        guard let group = getgrnam(name) else {
            throw .configuration("\(key) '\(name)' does not exist (create it with `groupadd \(name)`)")
        }
        return group.pointee.gr_gid
    }

    func run() async throws {
        let listener = try listen()
        logger.info("control socket listening", metadata: ["path": "\(path)"])
        let accepting = Thread { [self] in acceptLoop(listener) }
        accepting.name = "genidd-control"
        accepting.start()
        try? await gracefulShutdown()
        // Wakes the accept() thread; it closes the descriptor.
        stopping.store(true, ordering: .releasing)
        Glibc.shutdown(listener, Int32(SHUT_RDWR))
        unlink(path)
    }

    private func listen() throws(DaemonError) -> Int32 {
        let directory = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                 attributes: [.posixPermissions: 0o755])
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .controlSocket("socket(): \(String(cString: strerror(errno)))") }
        // A socket file left by a genidd that was killed: nobody listens on it.
        if ControlClient(socketPath: path).isStale { unlink(path) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            throw .controlSocket("path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes); $0[bytes.count] = 0 }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw .controlSocket("cannot bind \(path): \(message) (is another genidd running?)")
        }
        let file = access.socketFile
        chmod(path, file.mode)
        if let group = file.group { chown(path, 0, group) }
        guard Glibc.listen(fd, 64) == 0 else {
            close(fd)
            throw .controlSocket("listen(): \(String(cString: strerror(errno)))")
        }
        return fd
    }

    /// Accepts until genidd stops. Running out of descriptors or memory
    /// is waited out, never a reason to stop serving.
    private func acceptLoop(_ listener: Int32) {
        defer { close(listener) }
        var backoff = AcceptBackoff()
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else {
                let code = errno
                if stopping.load(ordering: .acquiring) { return }
                if code == EINTR || code == ECONNABORTED { continue }
                guard AcceptBackoff.isTransient(code) else {
                    logger.critical("control socket: accept failed; it no longer serves",
                                    metadata: ["error": "\(String(cString: strerror(code)))"])
                    return
                }
                metrics.acceptFailure(server: "control", errno: code)
                let pause = backoff.failed()
                if backoff.failures == 1 {
                    logger.error("control socket: cannot accept, waiting for resources",
                                 metadata: ["error": "\(String(cString: strerror(code)))"])
                }
                Thread.sleep(forTimeInterval: pause.seconds)
                continue
            }
            // genidd starts no program, so nothing can inherit the
            // descriptor before this (Glibc's module has no accept4).
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            if backoff.succeeded() { logger.notice("control socket: accepting again") }
            admit(client)
        }
    }

    /// Decides who the peer is and whether it gets a place; a refusal is
    /// answered at once on this thread (one short line).
    private func admit(_ client: Int32) {
        let connection = ControlConnection(fd: client)
        guard let peer = PeerCredentials.of(socket: client), let role = access.role(of: peer) else {
            let peer = PeerCredentials.of(socket: client)
            refuse(connection, reason: "not-allowed", uid: peer?.uid, pid: peer?.pid,
                   message: "permission denied: genidd's control socket is for root, the control group "
                       + "and the read-only group")
            return
        }
        let admission: ConnectionLimits.Admission
        switch connections.admit(uid: peer.uid, privileged: role == .operator) {
        case .success(let place): admission = place
        case .failure(let refusal):
            refuse(connection, reason: "too-many", uid: peer.uid, pid: peer.pid, message: "\(refusal)")
            return
        }
        // Reading may block (up to the deadline) on a slow client: on a
        // thread of its own (there are at most `connections.total`), not on
        // this one, nor on a pool whose backlog libdispatch watches.
        let reader = Thread { [self, handler] in
            guard let request = connection.readRequest(until: .now + Self.requestDeadline) else {
                admission.release()
                return
            }
            guard role >= request.command.requiredRole else {
                refuse(connection, reason: "role", uid: peer.uid, pid: peer.pid,
                            message: "permission denied: '\(request.command.rawValue)' is for root and the control "
                                + "group (the read-only group may use status, history and wait-ready)")
                admission.release()
                return
            }
            // The reply may block (up to its deadline) on a peer that does
            // not read: here, on this connection's thread, never on the
            // cooperative pool that serves libvirt's events.
            connection.reply(Self.waitingFor { await handler.handle(request, peer: peer) })
            admission.release()
        }
        reader.name = "genidd-control-connection"
        reader.start()
    }

    /// Counts every refusal; logs one a minute per uid and reason (with
    /// the socket open to all, any local user could flood the journal).
    private func refuse(_ connection: ControlConnection, reason: String, uid: UInt32?, pid: Int32?, message: String) {
        metrics.controlRefused(reason: reason)
        let who = uid ?? UInt32.max
        if let skipped = refusalLog.admit("\(who)/\(reason)") {
            logger.warning("control connection refused", metadata: [
                "reason": "\(reason)", "uid": "\(who)", "pid": "\(pid ?? -1)",
                "left_out": "\(skipped)"])
        }
        connection.reply(.failure(message))
    }

    /// Runs `work` and waits for it on this (non-cooperative) thread.
    private static func waitingFor(_ work: @escaping @Sendable () async -> ControlResponse) -> ControlResponse {
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<ControlResponse?>(nil)
        Task {
            let response = await work()
            result.withLock { $0 = response }
            done.signal()
        }
        done.wait()
        return result.withLock { $0 } ?? .failure("no response")
    }
}
