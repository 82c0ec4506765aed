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
    /// poll(2) on one descriptor for up to the given ms; a test puts a
    /// failing one in its place.
    var wait: @Sendable (inout pollfd, Int32) -> Int32 = { poll(&$0, 1, $1) }

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
            let ready = wait(&poller, Int32(clamping: Int64((left.seconds * 1000).rounded(.up))))
            if ready < 0 {
                // Any error but a signal comes back at once, every time:
                // polling on would spin until the deadline.
                if errno == EINTR { continue }
                reply(.failure("cannot wait for the request: \(String(cString: strerror(errno)))"))
                return nil
            }
            guard ready > 0 else { continue }  // timed out: the deadline check above answers
            // Not open: nothing to answer, nor to close (its number may be another's by now).
            if poller.revents & Int16(POLLNVAL) != 0 { return nil }
            // An error, or a hang-up with nothing left to read, ends it now.
            if poller.revents & Int16(POLLERR) != 0
                || poller.revents & Int16(POLLHUP) != 0 && poller.revents & Int16(POLLIN) == 0 {
                reply(.failure("no request line received"))
                return nil
            }
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
