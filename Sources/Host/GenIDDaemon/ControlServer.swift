import Foundation
import GenIDControl
import Logging
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

/// genidd's control socket: one JSON request line per connection, one JSON
/// response line. The socket file is mode 0660 (root and the control group)
/// or 0600, and every peer's credentials are checked again on accept.
final class ControlServer: Service, @unchecked Sendable {
    let path: String
    let access: ControlAccess
    let groupID: UInt32?
    let handler: ControlHandler
    let metrics: DaemonMetrics
    let logger: Logger

    init(configuration: DaemonConfiguration, handler: ControlHandler, metrics: DaemonMetrics,
         logger: Logger) throws(DaemonError) {
        path = configuration.controlSocket
        if let name = configuration.controlGroup {
            guard let group = getgrnam(name) else {
                throw .configuration("controlGroup '\(name)' does not exist (create it with `groupadd \(name)`)")
            }
            groupID = group.pointee.gr_gid
        } else {
            groupID = nil
        }
        access = ControlAccess(controlGroupID: groupID)
        self.handler = handler
        self.metrics = metrics
        self.logger = logger
    }

    func run() async throws {
        let listener = try listen()
        logger.info("control socket listening", metadata: ["path": "\(path)"])
        let accepting = Thread { [self] in acceptLoop(listener) }
        accepting.name = "genidd-control"
        accepting.start()
        try? await gracefulShutdown()
        // Wakes the accept() thread; it closes the descriptor.
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
        chmod(path, groupID == nil ? 0o600 : 0o660)
        if let groupID { chown(path, 0, groupID) }
        guard Glibc.listen(fd, 64) == 0 else {
            close(fd)
            throw .controlSocket("listen(): \(String(cString: strerror(errno)))")
        }
        return fd
    }

    private func acceptLoop(_ listener: Int32) {
        defer { close(listener) }
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return  // shut down
            }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            guard let peer = PeerCredentials.of(socket: client), access.allows(peer) else {
                metrics.controlRefused()
                let peer = PeerCredentials.of(socket: client)
                logger.warning("control connection refused", metadata: [
                    "uid": "\(peer?.uid ?? UInt32.max)", "pid": "\(peer?.pid ?? -1)"])
                ControlConnection(fd: client).reply(.failure(
                    "permission denied: genidd's control socket is for root and the control group"))
                continue
            }
            let connection = ControlConnection(fd: client)
            // Reading may block (up to its 10 s limit) on a slow client: not
            // on this thread, not on the cooperative pool.
            DispatchQueue.global().async { [handler] in
                guard let request = connection.readRequest() else { return }
                Task { connection.reply(await handler.handle(request, peer: peer)) }
            }
        }
    }
}

/// One accepted connection; closed after the reply.
struct ControlConnection: Sendable {
    let fd: Int32

    /// Reads one line (bounded); a malformed request is answered and closed.
    func readRequest() -> ControlRequest? {
        var received = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        while !received.contains(UInt8(ascii: "\n")) {
            let count = read(fd, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            guard count > 0, received.count + count <= 65536 else {
                reply(.failure(count > 0 ? "request too long" : "no request line received"))
                return nil
            }
            received += buffer[..<count]
        }
        let line = received[..<received.firstIndex(of: UInt8(ascii: "\n"))!]
        do {
            return try ControlCoding.decode(ControlRequest.self, from: Data(line))
        } catch {
            let commands = ControlRequest.Command.allCases.map(\.rawValue).joined(separator: ", ")
            reply(.failure("malformed request (\(error)); commands: \(commands)"))
            return nil
        }
    }

    func reply(_ response: ControlResponse) {
        defer { close(fd) }
        guard var data = try? ControlCoding.encode(response) else { return }
        data.append(UInt8(ascii: "\n"))
        var offset = 0
        while offset < data.count {
            let written = data.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            offset += written
        }
    }
}
