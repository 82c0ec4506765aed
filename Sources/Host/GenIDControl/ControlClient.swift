import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// genidctl's end of the control socket: one request, one response line,
/// one connection. Blocking (a CLI waits anyway; `wait-ready` may block for
/// as long as the caller allows).
public struct ControlClient: Sendable {
    public static let defaultSocketPath = "/run/genid/genidd.sock"

    public let socketPath: String

    public init(socketPath: String = ControlClient.defaultSocketPath) {
        self.socketPath = socketPath
    }

    public func send(_ request: ControlRequest) throws(ControlClientError) -> ControlResponse {
        let fd = try connectSocket()
        defer { close(fd) }
        let line: Data
        do {
            line = try ControlCoding.encode(request) + Data("\n".utf8)
        } catch {
            throw .malformedResponse("cannot encode the request: \(error)")
        }
        try writeAll(fd, line)
        let reply = try readLine(fd)
        do {
            return try ControlCoding.decode(ControlResponse.self, from: reply)
        } catch {
            throw .malformedResponse("\(error): \(String(decoding: reply.prefix(200), as: UTF8.self))")
        }
    }

    func connectSocket() throws(ControlClientError) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .cannotConnect(path: socketPath, errno: errno) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(socketPath.utf8)
        guard pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            throw .cannotConnect(path: socketPath, errno: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: pathBytes)
            buffer[pathBytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            let code = errno
            close(fd)
            throw .cannotConnect(path: socketPath, errno: code)
        }
        return fd
    }

    /// MSG_NOSIGNAL: genidd may have answered (a refusal) and closed before
    /// the request is written; that must not kill the caller with SIGPIPE.
    /// A failed write is not fatal: the answer may already be waiting.
    private func writeAll(_ fd: Int32, _ data: Data) throws(ControlClientError) {
        var offset = 0
        while offset < data.count {
            let written = data.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if written < 0 {
                if errno == EINTR { continue }
                if errno == EPIPE || errno == ECONNRESET { return }
                throw .connectionClosed("writing the request: \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }

    private func readLine(_ fd: Int32) throws(ControlClientError) -> Data {
        var received = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count < 0 {
                if errno == EINTR { continue }
                throw .connectionClosed("reading the response: \(String(cString: strerror(errno)))")
            }
            if count == 0 {
                throw .connectionClosed(received.isEmpty ? "genidd closed the connection without an answer"
                                                         : "genidd closed the connection mid-answer")
            }
            received.append(contentsOf: buffer[..<count])
            if let newline = received.firstIndex(of: UInt8(ascii: "\n")) {
                return received[..<newline]
            }
            guard received.count <= ControlCoding.maximumLineLength else {
                throw .malformedResponse("the response exceeds \(ControlCoding.maximumLineLength) bytes")
            }
        }
    }
}

public enum ControlClientError: Error, Sendable, CustomStringConvertible {
    case cannotConnect(path: String, errno: Int32)
    case connectionClosed(String)
    case malformedResponse(String)

    public var description: String {
        switch self {
        case let .cannotConnect(path, code) where code == ENOENT || code == ECONNREFUSED:
            "genidd is not running: nothing listens on \(path) (start it with `genidd` or `systemctl start genidd`)"
        case let .cannotConnect(path, code) where code == EACCES || code == EPERM:
            "permission denied on \(path): genidd's control socket is for root and its control group "
                + "(`controlGroup` in /etc/genid/genidd.json)"
        case let .cannotConnect(path, code):
            "cannot connect to genidd at \(path): \(String(cString: strerror(code)))"
        case let .connectionClosed(message):
            "genidd connection: \(message)"
        case let .malformedResponse(message):
            "genidd sent a malformed response: \(message)"
        }
    }
}

extension ControlClient {
    /// A socket file that nobody listens on any more (its daemon was killed).
    public var isStale: Bool {
        guard FileManager.default.fileExists(atPath: socketPath) else { return false }
        do {
            close(try connectSocket())
            return false
        } catch {
            if case .cannotConnect(_, let code) = error { return code == ECONNREFUSED }
            return false
        }
    }
}
