import Foundation
import GenIDControl
#if canImport(Glibc)
import Glibc
#endif

/// One accepted control connection: one request line in, one reply line
/// out, then closed.
struct ControlConnection: Sendable {
    static let maximumRequestBytes = 65536
    /// A reply the peer does not read is dropped after this.
    static let replyDeadlineSeconds = 10

    let fd: Int32

    /// Reads one line, whole by `deadline` however slowly it trickles in
    /// (one deadline for the request, not one per read). A late, long or
    /// malformed request is answered and closed.
    func readRequest(until deadline: ContinuousClock.Instant) -> ControlRequest? {
        var received = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !received.contains(UInt8(ascii: "\n")) {
            let left = deadline - .now
            guard left > .zero else {
                reply(.failure("no whole request line within \(Int(ControlServer.requestDeadline.seconds)) s"))
                return nil
            }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(clamping: Int64((left.seconds * 1000).rounded(.up))))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { continue }  // the deadline check above answers
            let count = read(fd, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            guard count > 0, received.count + count <= Self.maximumRequestBytes else {
                reply(.failure(count > 0 ? "request longer than \(Self.maximumRequestBytes) bytes"
                                         : "no request line received"))
                return nil
            }
            received += buffer[..<count]
        }
        let line = received.prefix { $0 != UInt8(ascii: "\n") }
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
        var timeout = timeval(tv_sec: Self.replyDeadlineSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var offset = 0
        while offset < data.count {
            let written = data.withUnsafeBytes { bytes in
                Glibc.send(fd, bytes.baseAddress.map { $0 + offset }, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            offset += written
        }
    }
}
