#if canImport(Glibc)
import Glibc
#endif

extension ConformanceSuite {
    func testGenerationChange(_ main: any SysGenIDTransport) {
        begin("a generation change")
        guard let other = open(nonBlocking: true) else { return }
        let g0 = current
        var privateMapping: UnsafeMutableRawPointer?
        var epoll: Epoll?
        if let device = main as? DeviceTransport {
            epoll = Epoll(watching: device.fd)
            expect(epoll?.wait(timeoutMilliseconds: 0).0 == 0, "epoll: nothing while up to date")
            if let mapped = mmap(nil, pageSize, PROT_READ, MAP_PRIVATE, device.fd, 0), mapped != MAP_FAILED {
                privateMapping = mapped
            }
        }
        let triggered = main.trigger(minimum: 0)
        expect(ok(triggered), "TRIGGER(0) succeeds as root", "\(triggered)")
        let g1 = current
        expect(g1 == g0 &+ 1, "TRIGGER(0) moves the counter up by one", "\(g0) -> \(g1)")
        if kind == .device {
            expect(sysfsGeneration() == Int64(g1), "sysfs generation follows")
            expect(privateMapping.map { volatileLoad($0) } == g1, "the private mapping follows too")
            if let device = main as? DeviceTransport {
                expect(device.pollEvents() & Int16(POLLIN | POLLRDNORM) == Int16(POLLIN | POLLRDNORM),
                       "poll: POLLIN|POLLRDNORM while outdated", "revents \(device.pollEvents())")
            }
            let polled = epoll?.wait(timeoutMilliseconds: 0)
            expect(polled?.0 == 1 && (polled?.1 ?? 0) & 1 != 0, "epoll: EPOLLIN")
        } else {
            let hello = try? SocketTransport(socketPath: main.path)
            expect(hello?.hello["counter"] == String(g1), "the provider's counter follows the page file")
            hello?.close()
        }
        expect(readable(main), "poll: readable while outdated")
        expect((try? main.read(count: 4, nonBlocking: false).get()) == .some(g1), "read returns 4 and the current counter")
        expect((try? main.read(count: 4, nonBlocking: false).get()) == .some(g1), "read keeps returning it until acknowledged")
        expect((try? main.read(count: 32, nonBlocking: false).get()) == .some(g1), "read(n=32) returns 4 bytes")
        expect((try? other.read(count: 4, nonBlocking: true).get()) == .some(g1), "non-blocking read returns it too")
        if let fresh = open(nonBlocking: true) {
            expectError(fresh.read(count: 4, nonBlocking: true), .EAGAIN, "a handle opened after the change is up to date")
            fresh.close()
        }
        expectError(main.acknowledge(g0), .EINVAL, "acknowledging the old value")
        expect(readable(main), "still outdated after a failed ack")
        expect(ok(main.acknowledge(g1)), "acknowledging the current value")
        expect(!readable(main), "poll: not readable once acknowledged")
        if let epoll {
            expect(epoll.wait(timeoutMilliseconds: 0).0 == 0, "epoll: nothing once acknowledged")
            epoll.close()
        }
        expect((try? other.read(count: 4, nonBlocking: true).get()) == .some(g1),
               "each handle is separate: the other one is still outdated")
        expect(ack(other), "ack the other one")
        expectError(other.read(count: 4, nonBlocking: true), .EAGAIN, "non-blocking read once acknowledged")
        if let privateMapping { munmap(privateMapping, pageSize) }
        other.close()
    }

    func testTriggerMinimum(_ main: any SysGenIDTransport) {
        begin("TRIGGER with a minimum")
        var g = current
        expect(ok(main.trigger(minimum: UInt64(g) + 100)) && current == g + 100, "TRIGGER(counter+100) sets it to counter+100",
               "\(g) -> \(current)")
        expect(ok(main.trigger(minimum: 5)) && current == g + 101, "TRIGGER(5) below the counter adds one", "-> \(current)")
        g = current
        expect(ok(main.trigger(minimum: UInt64(g))) && current == g + 1, "TRIGGER(counter) adds one", "\(g) -> \(current)")
        g = current
        expect(ok(main.trigger(minimum: UInt64(g) + 1)) && current == g + 1, "TRIGGER(counter+1) adds one", "\(g) -> \(current)")
        g = current
        expectError(main.trigger(minimum: 1 << 32), .EINVAL, "TRIGGER(2^32) (module choice)")
        expectError(main.trigger(minimum: UInt64(g) + SysGenIDIoctl.triggerMaximumStep + 1), .EINVAL,
                    "TRIGGER(counter + 2^20 + 1): one call may not jump that far")
        expectError(main.trigger(minimum: UInt64(UInt32.max)), .EINVAL, "TRIGGER(2^32-1): one call may not saturate")
        expect(current == g, "a rejected TRIGGER leaves the counter alone")
        if kind == .device { expect(sysfsGeneration() == Int64(g), "sysfs agrees") }
        expect(ack(main), "ack")
    }

    func testUnknownIoctls(_ main: any SysGenIDTransport) {
        begin("unknown ioctls")
        expectError(main.ioctl(SysGenIDIoctl.io(0xE4, 0), 0), .EINVAL, "_IO(0xE4, 0)")
        expectError(main.ioctl(SysGenIDIoctl.io(0xE4, 4), 0), .EINVAL, "_IO(0xE4, 4)")
        expectError(main.ioctl(SysGenIDIoctl.iow(0xE4, 1, size: 4), 0), .EINVAL, "_IOW(0xE4, 1, int)")
        expectError(main.ioctl(SysGenIDIoctl.io(0x42, 0x42), 0), .EINVAL, "_IO(0x42, 0x42)")
        expect(SysGenIDIoctl.io(0xE4, 1) == 0xE401 && SysGenIDIoctl.io(0xE4, 2) == 0xE402 && SysGenIDIoctl.io(0xE4, 3) == 0xE403,
               "request numbers are _IO(0xE4, 1..3)")
    }

    func testTracking() {
        begin("watcher tracking and WAIT_WATCHERS")
        guard let a = open(), let b = open(), let c = open() else { return }
        defer { a.close(); b.close(); c.close() }
        var t = monotonicMilliseconds()
        expect(ok(c.waitWatchers(timeoutMilliseconds: 1000)) && monotonicMilliseconds() - t < 500,
               "WAIT returns 0 at once when nothing is outdated")
        expect(ok(c.waitWatchers(timeoutMilliseconds: 0)), "WAIT(no timeout) returns 0 at once too")
        expect(ok(a.setTracking(1)) && ok(a.setTracking(1)), "track a (twice: idempotent)")
        expect(ok(c.trigger(minimum: 0)), "trigger")
        t = monotonicMilliseconds()
        expectError(c.waitWatchers(timeoutMilliseconds: 1000), .EINTR, "WAIT by an outdated caller")
        expect(monotonicMilliseconds() - t < 500, "... at once")
        expect(ack(c), "ack the caller")
        t = monotonicMilliseconds()
        expectError(c.waitWatchers(timeoutMilliseconds: 300), .ETIME, "WAIT(300 ms) with an outdated tracked watcher")
        t = monotonicMilliseconds() - t
        expect(t >= 250 && t < 3000, "... after about 300 ms", "\(t) ms")
        expect(ack(a), "ack a")
        expect(ok(c.waitWatchers(timeoutMilliseconds: 300)), "WAIT returns 0: the outdated untracked handle b does not count")
        expect(ok(c.trigger(minimum: 0)) && ack(c), "trigger, ack the caller")
        expectError(c.waitWatchers(timeoutMilliseconds: 100), .ETIME, "a (tracked) is outdated again")
        expect(ok(a.setTracking(0)), "untrack a while outdated")
        expect(ok(c.waitWatchers(timeoutMilliseconds: 300)), "WAIT returns 0 after untracking the outdated handle")
        expect(ok(a.setTracking(0)) && ok(c.waitWatchers(timeoutMilliseconds: 300)), "untrack again: idempotent")
        expect(ok(a.setTracking(1)), "track a again while it is outdated")
        expectError(c.waitWatchers(timeoutMilliseconds: 100), .ETIME, "it is counted as outdated")
        expect(ok(a.setTracking(7)) && ok(a.setTracking(1)), "track(7), track(1): still tracked once")
        expect(ack(a) && ok(c.waitWatchers(timeoutMilliseconds: 300)), "one ack of a releases WAIT")
        expect(ok(b.setTracking(42)), "any nonzero argument tracks: track(b, 42) while b is outdated")
        expectError(c.waitWatchers(timeoutMilliseconds: 100), .ETIME, "b now counts")
        expect(ok(b.setTracking(0)) && ok(c.waitWatchers(timeoutMilliseconds: 300)), "untrack b")
        expect(ack(b), "ack b")
        expect(ok(c.trigger(minimum: 0)) && ack(c), "trigger, ack the caller")
        expect(ok(a.setTracking(0)) && ack(a) && ack(b), "untrack a, ack a and b")
        expect(ok(c.waitWatchers(timeoutMilliseconds: 300)), "WAIT returns 0")
        expect(ok(a.setTracking(1)) && ok(c.waitWatchers(timeoutMilliseconds: 300)), "tracking an up-to-date handle adds nothing outdated")
        expect(ok(a.setTracking(0)), "untrack a")
    }

    func testWaitWakeups() {
        begin("WAIT_WATCHERS wake-ups")
        guard var a = open(), let c = open() else { return }
        defer { c.close() }
        expect(ok(a.setTracking(1)) && ok(c.trigger(minimum: 0)) && ack(c), "a tracked and outdated")
        var (thread, done) = background { c.waitWatchers(timeoutMilliseconds: 10000) }
        sleepMilliseconds(300)
        expect(!done.isComplete, "WAIT blocks")
        a.close()
        var result = done.wait(milliseconds: 3000)
        expect(result.map { ok($0.0) && $0.1 < 3000 } ?? false, "closing the outdated tracked handle releases WAIT",
               result.map { "\($0.0), \($0.1) ms" } ?? "still blocked")
        thread.join()

        guard let fresh = open() else { return }
        a = fresh
        defer { a.close() }
        expect(ok(a.setTracking(1)) && ok(c.trigger(minimum: 0)) && ack(c), "a tracked and outdated")
        (thread, done) = background { c.waitWatchers(timeoutMilliseconds: 0) }
        sleepMilliseconds(300)
        expect(!done.isComplete, "WAIT(no timeout) blocks")
        expect(ack(a), "ack a (from another thread)")
        result = done.wait(milliseconds: 3000)
        expect(result.map { ok($0.0) } ?? false, "the ack releases WAIT")
        thread.join()

        expect(ok(c.trigger(minimum: 0)) && ack(c), "a outdated again")
        (thread, done) = background { c.waitWatchers(timeoutMilliseconds: 10000) }
        sleepMilliseconds(300)
        expect(!done.isComplete, "WAIT blocks")
        expect(ok(a.trigger(minimum: 0)), "trigger while WAIT blocks")
        result = done.wait(milliseconds: 3000)
        expect(result.map { isFailure($0.0, .EINTR) } ?? false, "WAIT fails EINTR once the caller becomes outdated",
               result.map { "\($0.0)" } ?? "still blocked")
        thread.join()
        expect(ack(c), "ack the caller")

        // A signal (device) or a cancel (provider) interrupts WAIT.
        (thread, done) = background { c.waitWatchers(timeoutMilliseconds: 0) }
        sleepMilliseconds(200)
        interrupt(thread, handle: c)
        result = done.wait(milliseconds: 3000)
        expect(result.map { isFailure($0.0, .EINTR) } ?? false,
               kind == .device ? "a signal without SA_RESTART interrupts WAIT (EINTR)" : "cancel interrupts WAIT (EINTR)",
               result.map { "\($0.0)" } ?? "still blocked")
        if result == nil { _ = a.acknowledge(current) }
        thread.join()
        if kind == .device {
            (thread, done) = background { c.waitWatchers(timeoutMilliseconds: 0) }
            sleepMilliseconds(200)
            thread.signal(SIGUSR2)
            sleepMilliseconds(300)
            expect(!done.isComplete, "with SA_RESTART and no timeout, WAIT restarts")
            expect(ack(a) && (done.wait(milliseconds: 3000).map { ok($0.0) } ?? false), "... and then returns 0")
            thread.join()
            expect(ok(c.trigger(minimum: 0)) && ack(c), "a outdated again")
            (thread, done) = background { c.waitWatchers(timeoutMilliseconds: 10000) }
            sleepMilliseconds(200)
            thread.signal(SIGUSR2)
            result = done.wait(milliseconds: 3000)
            expect(result.map { isFailure($0.0, .EINTR) } ?? false,
                   "with a timeout, a signal ends WAIT with EINTR even with SA_RESTART (module choice)")
            thread.join()
        }
        expect(ack(a) && ok(a.setTracking(0)), "ack and untrack a")
    }

    private func interrupt(_ thread: PosixThread, handle: any SysGenIDTransport) {
        if let socket = handle as? SocketTransport {
            socket.cancel()
        } else {
            thread.signal(SIGUSR1)
        }
    }

    func testBlockingRead() {
        begin("blocking read and poll woken by another thread")
        guard let r = open(), let p = open() else { return }
        defer { r.close(); p.close() }
        var (reader, readDone) = background { r.read(count: 4, nonBlocking: false) }
        let (poller, pollDone) = background { p.poll(timeoutMilliseconds: -1) }
        sleepMilliseconds(300)
        expect(!readDone.isComplete && !pollDone.isComplete, "read and poll block while up to date")
        let trigger = open()
        expect(trigger.map { ok($0.trigger(minimum: 0)) } ?? false, "trigger from the main thread")
        let g = current
        let read = readDone.wait(milliseconds: 3000)
        expect(read.map { (try? $0.0.get()) == .some(g) } ?? false, "the blocked read wakes with the new counter",
               read.map { "\($0.0)" } ?? "still blocked")
        let polled = pollDone.wait(milliseconds: 3000)
        expect(polled.map { (try? $0.0.get()) == true } ?? false, "the blocked poll wakes readable")
        reader.join()
        poller.join()
        expect(ack(r) && ack(p) && (trigger.map { ack($0) } ?? false), "ack all")

        (reader, readDone) = background { r.read(count: 4, nonBlocking: false) }
        sleepMilliseconds(200)
        interrupt(reader, handle: r)
        var interrupted = readDone.wait(milliseconds: 3000)
        expect(interrupted.map { isFailure($0.0, .EINTR) } ?? false,
               kind == .device ? "a signal without SA_RESTART interrupts read (EINTR)" : "cancel interrupts a blocking read (EINTR)",
               interrupted.map { "\($0.0)" } ?? "still blocked")
        if interrupted == nil { _ = trigger?.trigger(minimum: 0) }
        reader.join()
        if kind == .device {
            (reader, readDone) = background { r.read(count: 4, nonBlocking: false) }
            sleepMilliseconds(200)
            reader.signal(SIGUSR2)
            sleepMilliseconds(300)
            expect(!readDone.isComplete, "with SA_RESTART the read restarts")
            _ = trigger?.trigger(minimum: 0)
            interrupted = readDone.wait(milliseconds: 3000)
            expect(interrupted.map { (try? $0.0.get()) == .some(current) } ?? false, "... and returns the next generation")
            reader.join()
        }
        trigger?.close()
    }
}
