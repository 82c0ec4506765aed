import SysGenID
import Testing

@Suite struct GenerationStateTests {
    @Test func openRecordsTheCurrentCounter() {
        var state = GenerationState()
        let a = state.open()
        #expect(!state.isOutdated(a))
        #expect(state.read(a, count: 4, nonBlocking: true) == .failure(.EAGAIN))
        #expect(state.read(a, count: 4, nonBlocking: false) == .wouldBlock)
        state.bump()
        let b = state.open()
        #expect(state.isOutdated(a))
        #expect(!state.isOutdated(b))
        #expect(state.read(a, count: 4, nonBlocking: true) == .value(1))
        #expect(state.read(a, count: 8, nonBlocking: false) == .value(1))
    }

    @Test func readSizes() {
        var state = GenerationState()
        let a = state.open()
        #expect(state.read(a, count: 0, nonBlocking: false) == .empty)
        #expect(state.read(a, count: 3, nonBlocking: false) == .failure(.EINVAL))
        #expect(state.read(a, count: 1, nonBlocking: true) == .failure(.EINVAL))
    }

    @Test func writeChecksSizeThenValue() {
        var state = GenerationState(counter: 7)
        let a = state.open()
        #expect(state.write(a, bytes: [0, 0, 0]) == .ENOBUFS)
        #expect(state.write(a, bytes: []) == .ENOBUFS)
        #expect(state.write(a, bytes: [0, 0, 0, 0, 0, 0, 0, 0]) == .ENOBUFS)
        #expect(state.write(a, bytes: withUnsafeBytes(of: UInt32(8)) { Array($0) }) == .EINVAL)
        #expect(state.write(a, bytes: withUnsafeBytes(of: UInt32(7)) { Array($0) }) == nil)
    }

    @Test func trackingCountsOutdatedWatchers() {
        var state = GenerationState()
        let a = state.open(), b = state.open(), c = state.open()
        state.setTracking(a, true)
        state.setTracking(a, true)
        #expect(state.trackedCount == 1)
        state.bump()
        #expect(state.outdatedTrackedCount == 1)
        #expect(state.waitWatchers(c) == .failure(.EINTR), "an outdated caller gets EINTR")
        #expect(state.acknowledge(c, value: 1) == nil)
        #expect(state.waitWatchers(c) == .wouldBlock)
        #expect(state.acknowledge(a, value: 0) == .EINVAL)
        #expect(state.outdatedTrackedCount == 1, "a failed ack changes nothing")
        #expect(state.acknowledge(a, value: 1) == nil)
        #expect(state.outdatedTrackedCount == 0)
        #expect(state.waitWatchers(c) == .done, "the untracked outdated b does not count")
        #expect(state.isOutdated(b))
    }

    @Test func untrackAndCloseFixTheCount() {
        var state = GenerationState()
        let a = state.open(), b = state.open()
        state.setTracking(a, true)
        state.setTracking(b, true)
        state.bump()
        #expect(state.outdatedTrackedCount == 2)
        state.setTracking(a, false)
        #expect(state.outdatedTrackedCount == 1)
        state.setTracking(a, true)
        #expect(state.outdatedTrackedCount == 2, "re-tracking an outdated client counts it again")
        state.close(b)
        #expect(state.outdatedTrackedCount == 1)
        #expect(state.trackedCount == 1)
        #expect(state.clients.count == 1)
        _ = state.acknowledge(a, value: 1)
        state.setTracking(a, false)
        state.setTracking(a, true)
        #expect(state.outdatedTrackedCount == 0, "tracking an up-to-date client adds nothing outdated")
    }

    @Test func triggerSemantics() {
        var state = GenerationState()
        #expect(state.trigger(minimum: 0) == .success(1))
        #expect(state.trigger(minimum: 100) == .success(100))
        #expect(state.trigger(minimum: 5) == .success(101))
        #expect(state.trigger(minimum: 101) == .success(102))
        #expect(state.trigger(minimum: 1 << 32) == .failure(.EINVAL))
        #expect(state.counter == 102)
        // One step of at most 2^20: saturating takes thousands of calls, not one.
        let step = SysGenIDIoctl.triggerMaximumStep
        #expect(state.trigger(minimum: UInt64(UInt32.max)) == .failure(.EINVAL), "saturating in one call")
        #expect(state.trigger(minimum: 102 + step + 1) == .failure(.EINVAL))
        #expect(state.counter == 102, "refused jumps leave the counter alone")
        #expect(state.trigger(minimum: 102 + step) == .success(UInt32(102 + step)), "the largest step")
        var calls = 1
        while case .success = state.trigger(minimum: min(UInt64(state.counter) + step, UInt64(UInt32.max))) { calls += 1 }
        #expect(calls >= 4095, "\(calls) calls to saturate")
        #expect(state.counter == UInt32.max)
        #expect(state.trigger(minimum: 0) == .failure(.EOVERFLOW))
        #expect(state.bump() == nil, "saturated: no wrap")
        #expect(state.counter == UInt32.max)
    }

    @Test func ioctlDispatch() {
        var state = GenerationState()
        let a = state.open()
        #expect(state.ioctl(a, request: 0xE401, argument: 42, privileged: false) == .success)
        #expect(state.clients[a]?.tracked == true)
        #expect(state.ioctl(a, request: 0xE403, argument: 0, privileged: false) == .failure(.EACCES))
        #expect(state.ioctl(a, request: 0xE403, argument: 0, privileged: true) == .triggered(1))
        #expect(state.ioctl(a, request: 0xE402, argument: 0, privileged: false) == .failure(.EINTR))
        _ = state.acknowledge(a, value: 1)
        #expect(state.ioctl(a, request: 0xE402, argument: 0, privileged: false) == .success)
        #expect(state.ioctl(a, request: 0xE400, argument: 0, privileged: true) == .failure(.EINVAL))
        #expect(state.ioctl(a, request: 0xE404, argument: 0, privileged: true) == .failure(.EINVAL))
        #expect(state.ioctl(a, request: SysGenIDIoctl.iow(0xE4, 1, size: 4), argument: 0, privileged: true) == .failure(.EINVAL))
        #expect(SysGenIDIoctl.iow(0xE4, 1, size: 4) == 0x4004_E401)
    }

    @Test func manyClientsManyGenerations() {
        var state = GenerationState()
        let clients = (0..<50).map { _ in state.open() }
        for client in clients where client % 2 == 0 { state.setTracking(client, true) }
        for _ in 0..<10 {
            state.bump()
            #expect(state.outdatedTrackedCount == 25)
            for client in clients { _ = state.acknowledge(client, value: state.counter) }
            #expect(state.outdatedTrackedCount == 0)
        }
    }
}

@Suite struct ErrnoTests {
    @Test func names() {
        #expect(Errno.EAGAIN.name == "EAGAIN")
        #expect(Errno.ENOBUFS.name == "ENOBUFS")
        #expect(Errno.ETIME.name == "ETIME")
        #expect(Errno.ETIME.code == 62)
        #expect(Errno.EOVERFLOW.code == 75)
        #expect(Errno(name: "EINTR") == .EINTR)
        #expect(Errno(name: "EACCES") == .EACCES)
        #expect(Errno(9999).name == "E9999")
        #expect(Errno(name: "E9999") == Errno(9999))
        #expect(Errno(name: "bogus") == nil)
        #expect(Errno.EINVAL.description == "EINVAL (22)")
    }

    @Test func errorDescriptionNamesTheErrnoAndCause() {
        let error = SysGenIDError(.ETIME, "WAIT_WATCHERS", path: "/dev/sysgenid", detail: "timed out after 5 ms")
        #expect(error.description.contains("ETIME"))
        #expect(error.description.contains("errno 62"))
        #expect(error.description.contains("/dev/sysgenid"))
        #expect(error.description.contains("timed out"))
    }
}

@Suite struct ProviderProtocolTests {
    @Test(arguments: [
        ProviderRequest.hello, .read(count: 4, nonBlocking: false), .read(count: 0, nonBlocking: true),
        .write([1, 2, 3, 4]), .write([]), .acknowledge(42), .poll(timeoutMilliseconds: -1), .poll(timeoutMilliseconds: 0),
        .ioctl(request: 0xE401, argument: 1), .ioctl(request: 0xE402, argument: 300),
        .ioctl(request: 0xE403, argument: 1 << 32), .ioctl(request: 0x4242, argument: 0),
        .watchers, .subscribe, .cancel,
    ])
    func requestsRoundTrip(_ request: ProviderRequest) throws {
        #expect(try ProviderRequest(line: request.line) == request)
    }

    @Test func requestSpellings() throws {
        #expect(ProviderRequest.ioctl(request: 0xE401, argument: 1).line == "track 1\n")
        #expect(ProviderRequest.ioctl(request: 0xE402, argument: 300).line == "wait 300\n")
        #expect(ProviderRequest.ioctl(request: 0xE403, argument: 9).line == "trigger 9\n")
        #expect(ProviderRequest.ioctl(request: 0xE400, argument: 0).line == "ioctl 0xe400 0\n")
        #expect(ProviderRequest.read(count: 4, nonBlocking: true).line == "read 4 nonblock\n")
        #expect(try ProviderRequest(line: "ioctl 58369 1") == .ioctl(request: 0xE401, argument: 1))
    }

    @Test(arguments: ["", "bogus", "read", "read x", "read 4 fast", "ack -1", "ack 4294967296", "write abc",
                      "poll -2", "track", "trigger x", "ioctl 1", "hello extra"])
    func malformedRequests(_ line: String) {
        #expect(throws: ProviderProtocolError.self) { try ProviderRequest(line: line) }
    }

    @Test func replies() throws {
        let ok = ProviderReply.ok([("bytes", "4"), ("counter", "7")])
        #expect(ok.line == "ok bytes=4 counter=7\n")
        #expect(try ProviderReply(line: ok.line) == ok)
        #expect(try ProviderReply(line: ok.line)["counter"] == "7")
        let error = ProviderReply.error(.ETIME, "watchers still outdated")
        #expect(error.line == "err ETIME watchers still outdated\n")
        #expect(try ProviderReply(line: error.line) == error)
        #expect(try ProviderReply(line: "err EAGAIN") == .error(.EAGAIN, ""))
        #expect(try ProviderReply(line: "event SYSGENID=12\n") == .event(counter: 12))
        #expect(throws: ProviderProtocolError.self) { try ProviderReply(line: "err") }
        #expect(throws: ProviderProtocolError.self) { try ProviderReply(line: "maybe") }
        #expect(throws: ProviderProtocolError.self) { try ProviderReply(line: "ok novalue") }
    }

    /// Found by the provider-request fuzz target: "\r\n" is one Character,
    /// equal to neither "\r" nor "\n", so it went through into the reply.
    @Test func anErrorReplyIsOneLineWhateverItsMessage() {
        #expect(ProviderReply.error(.EINVAL, "a\r\nb\nc\rd").line == "err EINVAL a  b c d\n")
    }

    /// Lines are cut and parsed the same however recv() splits them, and a
    /// line longer than the limit ends the connection whether or not its
    /// newline came (lines of up to twice the limit used to be parsed).
    @Test func theReaderCutsLinesAndBoundsThem() {
        var reader = ProviderRequestReader()
        reader.append(Array("hello\nread 4 non".utf8))
        #expect(reader.next() == .request(.hello))
        #expect(reader.next() == nil)
        reader.append(Array("block\nbogus\n".utf8))
        #expect(reader.next() == .request(.read(count: 4, nonBlocking: true)))
        #expect(reader.next() == .refused(.malformed("unknown verb 'bogus'")))
        #expect(reader.next() == nil)

        var long = ProviderRequestReader()
        long.append(Array(("read " + String(repeating: "9", count: ProviderRequest.maximumLineLength) + "\n").utf8))
        #expect(long.next() == .tooLong)
        var partial = ProviderRequestReader()
        partial.append([UInt8](repeating: UInt8(ascii: "x"), count: ProviderRequest.maximumLineLength + 1))
        #expect(partial.next() == .tooLong)
    }
}

/// The provider's deadlines from clients' timeouts: clamped like the
/// module's, saturated rather than trapping.
@Suite struct WaitDeadlineTests {
    @Test func everyWaitArgumentGivesADeadline() {
        let now: Int64 = 123_456
        #expect(SysGenIDIoctl.waitDeadline(now: now, argument: 0) == nil)
        #expect(SysGenIDIoctl.waitDeadline(now: now, argument: 10) == now + 10)
        for argument in [UInt64(UInt32.max), UInt64(UInt32.max) + 1, UInt64(Int64.max), UInt64.max] {
            #expect(SysGenIDIoctl.waitDeadline(now: now, argument: argument) == now + Int64(UInt32.max))
        }
        #expect(SysGenIDIoctl.deadline(now: Int64.max - 1, after: 10) == Int64.max)
        #expect(SysGenIDIoctl.deadline(now: Int64.min + 1, after: -10) == Int64.min)
    }
}
