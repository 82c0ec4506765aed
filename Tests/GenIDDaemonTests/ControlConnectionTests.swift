import Foundation
import GenIDControl
import Synchronization
import Testing
@testable import GenIDDaemon

/// A control connection ends as soon as waiting for its request cannot go
/// on, not at the request deadline.
@Suite struct ControlConnectionTests {
    /// poll() failing with anything but EINTR fails again at once: the
    /// loop used to poll again and again until the deadline, spinning a core.
    @Test func aFailingPollEndsTheConnectionAtOnce() throws {
        let (ours, theirs) = try socketPair()
        defer { close(theirs) }
        let calls = Atomic(0)
        var connection = ControlConnection(fd: ours)
        connection.wait = { _, _ in
            calls.add(1, ordering: .relaxed)
            errno = ENOMEM
            return -1
        }
        let started = ContinuousClock.now
        #expect(connection.readRequest(until: .now + .seconds(10)) == nil)
        #expect(ContinuousClock.now - started < .seconds(2))
        #expect(calls.load(ordering: .relaxed) == 1)
        #expect(try reply(from: theirs).contains("cannot wait for the request"))
    }

    @Test func aPeerThatHangsUpEndsTheConnectionAtOnce() throws {
        let (ours, theirs) = try socketPair()
        close(theirs)
        let started = ContinuousClock.now
        #expect(ControlConnection(fd: ours).readRequest(until: .now + .seconds(10)) == nil)
        #expect(ContinuousClock.now - started < .seconds(2))
    }

    @Test func aRequestThenAHangUpIsStillRead() throws {
        let (ours, theirs) = try socketPair()
        _ = Array(#"{"command":"status"}"#.utf8 + [0x0a]).withUnsafeBytes { write(theirs, $0.baseAddress, $0.count) }
        shutdown(theirs, Int32(SHUT_WR))
        defer { close(theirs) }
        #expect(ControlConnection(fd: ours).readRequest(until: .now + .seconds(10))?.command == .status)
        close(ours)
    }

    private func socketPair() throws -> (Int32, Int32) {
        var fds: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0 else {
            throw POSIXError(.init(rawValue: errno) ?? .EIO)
        }
        return (fds[0], fds[1])
    }

    private func reply(from fd: Int32) throws -> String {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = read(fd, &buffer, buffer.count)
        return String(decoding: buffer[..<max(count, 0)], as: UTF8.self)
    }
}
