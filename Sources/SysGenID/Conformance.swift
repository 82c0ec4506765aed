#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// One check of the conformance suite.
public struct ConformanceCheck: Sendable, Equatable {
    public var section: String
    public var name: String
    public var passed: Bool
    public var detail: String
}

/// The in-guest conformance suite: every row of the sysgenid contract
/// (shared/spec/sysgenid-abi.md), for the kernel module's device and, row
/// by row mapped to its socket and page-file equivalent, for the userspace
/// provider. A port of Kernel/sysgenid/tests/sysgenid-smoke.c.
///
/// Needs root. Checks that drop privileges run in a child process
/// (`childCommand` + case name), which reports through its exit status.
public final class ConformanceSuite: @unchecked Sendable {
    public let provider: SysGenIDProvider
    public let kind: SysGenIDProviderKind
    /// The counter must be 0 at the start (a freshly started provider).
    public var fresh = false
    /// argv prefix that runs `ConformanceSuite.runChild` (e.g. sysgenidctl's
    /// hidden `conformance-child`).
    public var childCommand: [String]
    /// Scale of the chaos and stress parts (1 = the C suite's sizes).
    public var stressScale = 1.0
    public var progress: (String) -> Void = { _ in }

    public private(set) var checks: [ConformanceCheck] = []
    private var section = ""
    private var page: GenerationPage!
    private let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    public init(provider: SysGenIDProvider, childCommand: [String]) throws(SysGenIDError) {
        let resolved = try provider.resolved()
        self.provider = resolved
        kind = resolved.kind!
        self.childCommand = childCommand
    }

    public var passedCount: Int { checks.filter(\.passed).count }
    public var failedCount: Int { checks.count - passedCount }

    // MARK: helpers

    private func begin(_ name: String) {
        section = name
        progress(name)
    }

    private func expect(_ ok: Bool, _ name: String, _ detail: @autoclosure () -> String = "") {
        checks.append(ConformanceCheck(section: section, name: name, passed: ok, detail: detail()))
    }

    private func expectError<T>(_ result: Result<T, Errno>, _ expected: Errno, _ name: String) {
        switch result {
        case .success(let value): expect(false, "\(name) fails \(expected.name)", "it succeeded (\(value))")
        case .failure(let error):
            expect(error == expected, "\(name) fails \(expected.name)", error == expected ? "" : "got \(error.name)")
        }
    }

    private func open(nonBlocking: Bool = false, flags: Int32 = O_RDWR) -> (any SysGenIDTransport)? {
        do {
            return try provider.openTransport(flags: flags | (nonBlocking ? O_NONBLOCK : 0))
        } catch {
            expect(false, "open a new \(kind.rawValue) handle", "\(error)")
            return nil
        }
    }

    private var current: UInt32 { page.current }

    private func ack(_ handle: any SysGenIDTransport) -> Bool {
        if case .success = handle.acknowledge(current) { return true }
        return false
    }

    private func ok<T>(_ result: Result<T, Errno>) -> Bool {
        if case .success = result { return true }
        return false
    }

    private func readable(_ handle: any SysGenIDTransport) -> Bool {
        (try? handle.poll(timeoutMilliseconds: 0).get()) ?? false
    }

    private func sysfsGeneration() -> Int64? {
        guard let bytes = try? readFile("/sys/class/misc/sysgenid/generation"), bytes.last == UInt8(ascii: "\n") else {
            return nil
        }
        return Int64(String(decoding: bytes.dropLast(), as: UTF8.self))
    }

    /// Runs `body` on a thread; the result can be waited for.
    private func background<T>(_ body: @escaping @Sendable () -> T) -> (PosixThread, Completion<(T, Int64)>) {
        let completion = Completion<(T, Int64)>()
        let thread = PosixThread {
            let start = monotonicMilliseconds()
            let result = body()
            completion.complete((result, monotonicMilliseconds() - start))
        }
        return (thread, completion)
    }

    // MARK: the suite

    public func run() -> [ConformanceCheck] {
        installSignalHandlers()
        begin("open, node, counter")
        do {
            page = try provider.mapPage()
        } catch {
            expect(false, "map the counter page", "\(error)")
            return checks
        }
        guard let main = open() else { return checks }
        expect(true, "open a \(kind.rawValue) handle read-write")
        testNode(main)
        testRead(main)
        testWrite(main)
        testMapping(main)
        testGenerationChange(main)
        testTriggerMinimum(main)
        testUnknownIoctls(main)
        testTracking()
        testWaitWakeups()
        testBlockingRead()
        testPrivileges(main)
        testEvents(main)
        testChaos()
        testStress()
        main.close()
        return checks
    }

    private func testNode(_ main: any SysGenIDTransport) {
        var info = stat()
        switch provider {
        case .device(let path):
            expect(stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFCHR, "\(path) is a character device")
            expect(info.st_mode & 0o7777 == 0o666, "\(path) has mode 0666", "mode \(String(info.st_mode & 0o7777, radix: 8))")
            let sysfs = sysfsGeneration()
            expect(sysfs == Int64(current), "sysfs generation matches the mmap page",
                   "sysfs \(sysfs.map(String.init) ?? "unreadable"), page \(current)")
        case let .userspace(socketPath, pagePath):
            expect(stat(socketPath, &info) == 0 && info.st_mode & S_IFMT == S_IFSOCK, "\(socketPath) is a socket")
            expect(info.st_mode & 0o777 == 0o666, "\(socketPath) has mode 0666 (anyone may connect)",
                   "mode \(String(info.st_mode & 0o777, radix: 8))")
            expect(stat(pagePath, &info) == 0 && info.st_mode & S_IFMT == S_IFREG, "\(pagePath) is a regular file")
            expect(info.st_mode & 0o7777 == 0o644, "\(pagePath) has mode 0644", "mode \(String(info.st_mode & 0o7777, radix: 8))")
            expect(info.st_size == 4096, "\(pagePath) is 4096 bytes", "\(info.st_size) bytes")
            expect(info.st_uid == 0, "\(pagePath) belongs to root", "uid \(info.st_uid)")
            let hello = (main as? SocketTransport)?.hello
            expect(hello?["provider"] == "sysgenidd" && hello?["protocol"] == "1", "the provider greets: sysgenidd, protocol 1",
                   hello.map { $0.line } ?? "")
            expect(hello?["counter"] == String(current), "the greeting's counter matches the page file",
                   "greeting \(hello?["counter"] ?? "?"), page \(current)")
        case .automatic: break
        }
        if fresh { expect(current == 0, "counter starts at 0", "counter \(current)") }
    }

    private func testRead(_ main: any SysGenIDTransport) {
        begin("read on an up-to-date handle")
        expect((try? main.read(count: 0, nonBlocking: false).get()) == .some(nil), "read(n=0) returns 0")
        expectError(main.read(count: 3, nonBlocking: false), .EINVAL, "read(n=3)")
        expectError(main.read(count: 1, nonBlocking: false), .EINVAL, "read(n=1)")
        expectError(main.read(count: 4, nonBlocking: true), .EAGAIN, "non-blocking read with nothing new")
        let second = open(nonBlocking: true)
        expect(second != nil, "open a second handle (O_NONBLOCK)")
        if let other = second {
            expectError(other.read(count: 4, nonBlocking: true), .EAGAIN, "a second handle: non-blocking read")
            expect((try? other.read(count: 0, nonBlocking: true).get()) == .some(nil), "non-blocking read(n=0) returns 0")
            expectError(other.read(count: 2, nonBlocking: true), .EINVAL, "non-blocking read(n=2)")
            other.close()
        }
        expect(!readable(main), "poll: not readable while up to date")
        if let device = main as? DeviceTransport {
            expect(device.pollEvents() == Int16(POLLOUT) || device.pollEvents() == 0,
                   "poll: no POLLIN/POLLRDNORM while up to date", "revents \(device.pollEvents())")
        }
    }

    private func testWrite(_ main: any SysGenIDTransport) {
        begin("write (acknowledge)")
        let g = current
        expectError(main.write([0, 0, 0]), .ENOBUFS, "write(n=3)")
        expectError(main.write(withUnsafeBytes(of: UInt64(g)) { Array($0) }), .ENOBUFS, "write(n=8)")
        expectError(main.write([]), .ENOBUFS, "write(n=0)")
        expectError(main.acknowledge(g &+ 1), .EINVAL, "write(a future value)")
        if g > 0 { expectError(main.acknowledge(g - 1), .EINVAL, "write(an old value)") }
        expect((try? main.write(withUnsafeBytes(of: g) { Array($0) }).get()) == 4, "write(current value) returns 4 while up to date")
        if let device = main as? DeviceTransport {
            let result = Glibc.write(device.fd, nil, 4)
            expect(result == -1 && errno == EFAULT, "write(NULL buffer) fails EFAULT (module choice)", "returned \(result)")
        }
    }

    private func tryMap(_ fd: Int32, length: Int, protection: Int32, flags: Int32, offset: Int) -> Result<Void, Errno> {
        guard let mapped = mmap(nil, length, protection, flags, fd, off_t(offset)), mapped != MAP_FAILED else {
            return .failure(.current)
        }
        munmap(mapped, length)
        return .success(())
    }

    private func testMapping(_ main: any SysGenIDTransport) {
        begin("mmap")
        switch provider {
        case .device(let path):
            guard let device = main as? DeviceTransport else { return }
            let fd = device.fd
            expect(true, "mmap(PROT_READ, MAP_SHARED, one page)")
            expectError(tryMap(fd, length: pageSize, protection: PROT_READ | PROT_WRITE, flags: MAP_SHARED, offset: 0), .EPERM,
                        "mmap(PROT_READ|PROT_WRITE, MAP_SHARED)")
            expectError(tryMap(fd, length: pageSize, protection: PROT_WRITE, flags: MAP_SHARED, offset: 0), .EPERM,
                        "mmap(PROT_WRITE, MAP_SHARED)")
            expectError(tryMap(fd, length: pageSize, protection: PROT_READ | PROT_WRITE, flags: MAP_PRIVATE, offset: 0), .EPERM,
                        "mmap(PROT_READ|PROT_WRITE, MAP_PRIVATE)")
            expectError(tryMap(fd, length: 2 * pageSize, protection: PROT_READ, flags: MAP_SHARED, offset: 0), .EINVAL,
                        "mmap(two pages)")
            expectError(tryMap(fd, length: pageSize, protection: PROT_READ, flags: MAP_SHARED, offset: pageSize), .EINVAL,
                        "mmap(offset one page)")
            expectError(tryMap(fd, length: 2 * pageSize, protection: PROT_READ | PROT_WRITE, flags: MAP_SHARED, offset: 0),
                        .EINVAL, "mmap(two pages, writable): size is checked first")
            if let mapped = mmap(nil, pageSize, PROT_READ, MAP_SHARED, fd, 0), mapped != MAP_FAILED {
                let result: Result<Void, Errno> = mprotect(mapped, pageSize, PROT_READ | PROT_WRITE) == 0 ? .success(()) : .failure(.current)
                expectError(result, .EACCES, "mprotect(PROT_WRITE) of the read-only mapping")
                munmap(mapped, pageSize)
            }
            if let mapped = mmap(nil, pageSize, PROT_READ, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED {
                expect(volatileLoad(mapped) == current, "mmap(PROT_READ, MAP_PRIVATE) shows the counter")
                munmap(mapped, pageSize)
            } else {
                expect(false, "mmap(PROT_READ, MAP_PRIVATE) shows the counter", Errno.current.name)
            }
            let readOnly = Glibc.open(path, O_RDONLY | O_CLOEXEC)
            if readOnly >= 0, let mapped = mmap(nil, pageSize, PROT_READ, MAP_SHARED, readOnly, 0), mapped != MAP_FAILED {
                expect(volatileLoad(mapped) == current, "mmap of an O_RDONLY fd shows the counter")
                munmap(mapped, pageSize)
            } else {
                expect(false, "mmap of an O_RDONLY fd shows the counter", Errno.current.name)
            }
            if readOnly >= 0 { Glibc.close(readOnly) }
        case .userspace(_, let pagePath):
            expect(true, "mmap(PROT_READ, MAP_SHARED) of the page file")
            let readOnly = Glibc.open(pagePath, O_RDONLY | O_CLOEXEC)
            expect(readOnly >= 0, "open the page file O_RDONLY")
            expectError(tryMap(readOnly, length: pageSize, protection: PROT_READ | PROT_WRITE, flags: MAP_SHARED, offset: 0),
                        .EACCES, "mmap(PROT_READ|PROT_WRITE, MAP_SHARED) of an O_RDONLY page file fd")
            if let mapped = mmap(nil, pageSize, PROT_READ, MAP_SHARED, readOnly, 0), mapped != MAP_FAILED {
                let result: Result<Void, Errno> = mprotect(mapped, pageSize, PROT_READ | PROT_WRITE) == 0 ? .success(()) : .failure(.current)
                expectError(result, .EACCES, "mprotect(PROT_WRITE) of the read-only page file mapping")
                munmap(mapped, pageSize)
            }
            if let mapped = mmap(nil, pageSize, PROT_READ, MAP_PRIVATE, readOnly, 0), mapped != MAP_FAILED {
                expect(volatileLoad(mapped) == current, "mmap(PROT_READ, MAP_PRIVATE) of the page file shows the counter")
                munmap(mapped, pageSize)
            }
            if readOnly >= 0 { Glibc.close(readOnly) }
            // Non-root cannot open it for writing: checked in the privileges part.
        case .automatic: break
        }
    }

    private func testGenerationChange(_ main: any SysGenIDTransport) {
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

    private func testTriggerMinimum(_ main: any SysGenIDTransport) {
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
        expect(current == g, "a rejected TRIGGER leaves the counter alone")
        if kind == .device { expect(sysfsGeneration() == Int64(g), "sysfs agrees") }
        expect(ack(main), "ack")
    }

    private func testUnknownIoctls(_ main: any SysGenIDTransport) {
        begin("unknown ioctls")
        expectError(main.ioctl(SysGenIDIoctl.io(0xE4, 0), 0), .EINVAL, "_IO(0xE4, 0)")
        expectError(main.ioctl(SysGenIDIoctl.io(0xE4, 4), 0), .EINVAL, "_IO(0xE4, 4)")
        expectError(main.ioctl(SysGenIDIoctl.iow(0xE4, 1, size: 4), 0), .EINVAL, "_IOW(0xE4, 1, int)")
        expectError(main.ioctl(SysGenIDIoctl.io(0x42, 0x42), 0), .EINVAL, "_IO(0x42, 0x42)")
        expect(SysGenIDIoctl.io(0xE4, 1) == 0xE401 && SysGenIDIoctl.io(0xE4, 2) == 0xE402 && SysGenIDIoctl.io(0xE4, 3) == 0xE403,
               "request numbers are _IO(0xE4, 1..3)")
    }

    private func testTracking() {
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

    private func testWaitWakeups() {
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

    private func testBlockingRead() {
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

    // MARK: privileges (child processes)

    /// What a child checks, and how it reports: exit status 0 = as expected,
    /// else bits naming what went wrong, 100 = set-up failed.
    public enum ChildCase: String, CaseIterable, Sendable {
        case onlyCheckpointRestore = "only-checkpoint-restore"
        case onlySysAdmin = "only-sys-admin"
        case noCapabilities = "no-capabilities"
        case nobody
        case nobodyPageWrite = "nobody-page-write"
    }

    private func runChild(_ childCase: ChildCase) -> Int32 {
        var arguments = childCommand + [childCase.rawValue, kind.rawValue]
        switch provider {
        case .device(let path): arguments.append(path)
        case let .userspace(socket, page): arguments += [socket, page]
        case .automatic: break
        }
        return spawnAndWait(arguments)
    }

    private func testPrivileges(_ main: any SysGenIDTransport) {
        begin("TRIGGER needs CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN")
        var g = current
        var status = runChild(.onlyCheckpointRestore)
        expect(status == 0, "with only CAP_CHECKPOINT_RESTORE, TRIGGER works", "status \(status)")
        status = runChild(.onlySysAdmin)
        expect(status == 0, "with only CAP_SYS_ADMIN, TRIGGER works", "status \(status)")
        expect(current == g &+ 2, "both moved the counter", "\(g) -> \(current)")
        g = current
        status = runChild(.noCapabilities)
        expect(status == Errno.EACCES.code, "uid 0 without capabilities: TRIGGER fails EACCES", "status \(status)")
        status = runChild(.nobody)
        expect(status == 0, "as uid 65534: open, read, mmap and ack work, TRIGGER fails EACCES", "failure bits \(status)")
        if kind == .userspace {
            status = runChild(.nobodyPageWrite)
            expect(status == Errno.EACCES.code, "as uid 65534: opening the page file for writing fails EACCES", "status \(status)")
        }
        expect(current == g, "the refused TRIGGERs left the counter alone", "\(g) -> \(current)")
        expect(ack(main), "ack")
    }

    // MARK: change notifications

    private func testEvents(_ main: any SysGenIDTransport) {
        begin(kind == .device ? "uevents" : "provider change events")
        let events: EventSource
        do {
            events = try kind == .device ? UeventSource() : ProviderEventSource(socketPath: main.path)
        } catch {
            expect(false, "open the event source", "\(error)")
            return
        }
        defer { events.close() }
        expect(ok(main.trigger(minimum: 0)), "trigger")
        var g = current
        let first = events.next(timeoutMilliseconds: 3000)
        expect(first == g, "a change event with SYSGENID=\(g)", "got \(first.map(String.init) ?? "none")")
        for _ in 0..<5 { _ = main.trigger(minimum: 0) }
        g = current
        var last: UInt32? = nil
        var increasing = true
        var seenFinal = false
        while let value = events.next(timeoutMilliseconds: 2000) {
            if let last, value <= last { increasing = false }
            if value > g { increasing = false }
            last = value
            if value == g { seenFinal = true; break }
        }
        expect(seenFinal, "after a burst of 5, an event carries the final value \(g)")
        expect(increasing, "event values only move up")
        expect(ack(main), "ack")
    }

    // MARK: chaos and stress

    private func testChaos() {
        let threads = 8
        let operations = Int(Double(kind == .device ? 3000 : 600) * stressScale)
        begin("chaos: \(threads) threads, every operation at once")
        let g = current
        let unexpected = Atomic<Int>(0)
        let lastError = Atomic<Int32>(0)
        let provider = self.provider
        let workers = (0..<threads).map { index in
            PosixThread {
                var seed = UInt32(1234 + index)
                var handles: [any SysGenIDTransport] = (0..<4).compactMap { _ in try? provider.openTransport(flags: O_RDWR) }
                guard handles.count == 4 else { unexpected.add(1, ordering: .relaxed); return }
                for _ in 0..<operations {
                    let r = Int(rand_r(&seed))
                    let i = r % 4
                    var good = true
                    var failure: Errno?
                    switch (r >> 2) % 7 {
                    case 0:
                        handles[i].close()
                        if let fresh = try? provider.openTransport(flags: O_RDWR) { handles[i] = fresh } else { good = false }
                    case 1, 2:
                        if case .failure(let e) = handles[i].setTracking(UInt64((r >> 5) & 1)) { good = false; failure = e }
                    case 3:
                        switch handles[i].read(count: 4, nonBlocking: true) {
                        case .success(let value?):
                            if case .failure(let e) = handles[i].acknowledge(value), e != .EINVAL { good = false; failure = e }
                        case .success(nil): good = false
                        case .failure(let e): if e != .EAGAIN { good = false; failure = e }
                        }
                    case 4:
                        if case .failure(let e) = handles[i].poll(timeoutMilliseconds: 0) { good = false; failure = e }
                    case 5:
                        if case .failure(let e) = handles[i].waitWatchers(timeoutMilliseconds: 1), e != .ETIME && e != .EINTR {
                            good = false; failure = e
                        }
                    default:
                        if (r >> 5) % 8 == 0, case .failure(let e) = handles[i].trigger(minimum: 0) { good = false; failure = e }
                    }
                    if !good {
                        unexpected.add(1, ordering: .relaxed)
                        if let failure { lastError.store(failure.code, ordering: .relaxed) }
                    }
                }
                for handle in handles { handle.close() }
            }
        }
        let start = monotonicMilliseconds()
        for worker in workers { worker.join() }
        let count = unexpected.load(ordering: .relaxed)
        expect(count == 0, "no operation failed unexpectedly",
               "\(count) unexpected, last \(Errno(lastError.load(ordering: .relaxed)).name); \(threads) x \(operations) operations in \(monotonicMilliseconds() - start) ms")
        expect(current > g, "the counter moved", "\(g) -> \(current)")
        guard let fd = open(), let t = open() else { return }
        expect(ok(fd.waitWatchers(timeoutMilliseconds: 1000)), "with every handle closed, nothing is outdated")
        expect(ok(t.setTracking(1)) && ok(fd.trigger(minimum: 0)) && ack(fd), "one new tracked watcher, outdated")
        expectError(fd.waitWatchers(timeoutMilliseconds: 100), .ETIME, "it counts")
        expect(ack(t) && ok(fd.waitWatchers(timeoutMilliseconds: 1000)), "and its ack brings the count to 0")
        t.close()
        fd.close()
    }

    private func testStress() {
        let threads = 16
        let generations = Int(Double(kind == .device ? 200 : 100) * stressScale)
        begin("stress: \(threads) tracked readers, \(generations) generations")
        guard let m = open() else { return }
        defer { m.close() }
        let stop = Atomic<Bool>(false)
        let mmapBackwards = Atomic<Bool>(false)
        let page = self.page!
        let mmapWatcher = PosixThread {
            var last = page.current
            while !stop.load(ordering: .relaxed) {
                let value = page.current
                if value < last { mmapBackwards.store(true, ordering: .relaxed) }
                last = value
            }
        }
        final class WorkerState: @unchecked Sendable {
            var last: UInt32 = 0, acks = 0, error: Errno?, backwards = false
        }
        let handles = (0..<threads).compactMap { _ in open() }
        guard handles.count == threads else { return }
        let states = handles.map { _ in WorkerState() }
        for handle in handles { _ = handle.setTracking(1) }
        let workers = (0..<threads).map { index in
            PosixThread {
                let handle = handles[index], state = states[index]
                while true {
                    switch handle.poll(timeoutMilliseconds: 100) {
                    case .failure(let e): state.error = e; return
                    case .success(false):
                        if stop.load(ordering: .relaxed) { return }
                        continue
                    case .success(true): break
                    }
                    guard case .success(let value?) = handle.read(count: 4, nonBlocking: false) else {
                        state.error = .EIO; return
                    }
                    switch handle.acknowledge(value) {
                    case .failure(.EINVAL): continue  // moved on since the read
                    case .failure(let e): state.error = e; return
                    case .success: break
                    }
                    if state.acks > 0 && value <= state.last { state.backwards = true }
                    state.last = value
                    state.acks += 1
                }
            }
        }
        let start = monotonicMilliseconds()
        var waitOK = 0
        var firstFailure = ""
        for round in 0..<generations {
            guard ok(m.trigger(minimum: 0)), ack(m) else { firstFailure = "trigger/ack failed in round \(round)"; break }
            switch m.waitWatchers(timeoutMilliseconds: 20000) {
            case .success: waitOK += 1
            case .failure(let e): if firstFailure.isEmpty { firstFailure = "WAIT failed in round \(round): \(e.name)" }
            }
        }
        let final = current
        expect(waitOK == generations, "WAIT_WATCHERS succeeded after every trigger", "\(waitOK)/\(generations) \(firstFailure)")
        expect(ok(m.waitWatchers(timeoutMilliseconds: 5000)), "the outdated count is back to 0")
        stop.store(true, ordering: .relaxed)
        for worker in workers { worker.join() }
        mmapWatcher.join()
        expect(states.allSatisfy { $0.last == final }, "every thread saw and acknowledged the final generation \(final)")
        expect(states.allSatisfy { $0.acks == generations }, "every thread acknowledged each of the \(generations) generations",
               "acks: \(states.map(\.acks).min() ?? 0)...\(states.map(\.acks).max() ?? 0)")
        expect(states.allSatisfy { $0.error == nil }, "no thread hit an error",
               states.compactMap { $0.error?.name }.first ?? "")
        expect(!states.contains { $0.backwards } && !mmapBackwards.load(ordering: .relaxed), "no reader ever saw the counter move down")
        if kind == .device { expect(sysfsGeneration() == Int64(final), "sysfs shows \(final)") }
        for handle in handles { handle.close() }
        expect(ok(m.waitWatchers(timeoutMilliseconds: 1000)), "WAIT returns 0 after the tracked handles closed")
        if let socket = m as? SocketTransport {
            // The provider sees a close when its connection thread reads EOF: allow it a moment.
            var state = try? socket.watchers().get()
            let deadline = monotonicMilliseconds() + 3000
            while let current = state, current.tracked != 0 || current.outdated != 0, monotonicMilliseconds() < deadline {
                sleepMilliseconds(20)
                state = try? socket.watchers().get()
            }
            expect(state.map { $0.tracked == 0 && $0.outdated == 0 } ?? false,
                   "the provider counts no tracked or outdated watcher once the handles closed",
                   state.map { "tracked \($0.tracked), outdated \($0.outdated)" } ?? "watchers failed")
        }
        progress("stress took \(monotonicMilliseconds() - start) ms")
    }

    // MARK: the child side

    /// Runs one privilege case in this (child) process and returns its exit
    /// status. `arguments`: case, kind, then the device path or socket + page.
    public static func runChild(arguments: [String]) -> Int32 {
        guard arguments.count >= 3, let childCase = ChildCase(rawValue: arguments[0]),
              let kind = SysGenIDProviderKind(rawValue: arguments[1]) else { return 100 }
        let provider: SysGenIDProvider = kind == .device
            ? .device(path: arguments[2])
            : .userspace(socketPath: arguments[2], pagePath: arguments.count > 3 ? arguments[3] : SysGenIDProvider.defaultPagePath)
        func triggerStatus() -> Int32 {
            guard let handle = try? provider.openTransport(flags: O_RDWR) else { return 100 }
            defer { handle.close() }
            if case .failure(let error) = handle.trigger(minimum: 0) { return error.code }
            return 0
        }
        switch childCase {
        case .onlyCheckpointRestore: return keepCapabilities([40]) ? triggerStatus() : 100
        case .onlySysAdmin: return keepCapabilities([21]) ? triggerStatus() : 100
        case .noCapabilities: return keepCapabilities([]) ? triggerStatus() : 100
        case .nobody:
            guard becomeNobody() else { return 100 }
            guard let handle = try? provider.openTransport(flags: O_RDWR | O_NONBLOCK) else { return 1 }
            var bad: Int32 = 0
            if !isFailure(handle.trigger(minimum: 0), .EACCES) { bad |= 2 }
            if !isFailure(handle.read(count: 4, nonBlocking: true), .EAGAIN) { bad |= 4 }
            guard let page = try? provider.mapPage() else { return bad | 8 }
            if case .failure = handle.acknowledge(page.current) { bad |= 16 }
            return bad
        case .nobodyPageWrite:
            guard becomeNobody(), case .userspace(_, let pagePath) = provider else { return 100 }
            let fd = Glibc.open(pagePath, O_RDWR | O_CLOEXEC)
            if fd >= 0 { Glibc.close(fd); return 0 }
            return errno
        }
    }
}

// MARK: - event sources

protocol EventSource {
    func next(timeoutMilliseconds: Int) -> UInt32?
    func close()
}

/// `change` uevents of the sysgenid misc device (NETLINK_KOBJECT_UEVENT).
final class UeventSource: EventSource {
    let fd: Int32

    init() throws(SysGenIDError) {
        fd = socket(AF_NETLINK, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 15 /* NETLINK_KOBJECT_UEVENT */)
        guard fd >= 0 else { throw SysGenIDError(.current, "socket(NETLINK_KOBJECT_UEVENT)") }
        var size: Int32 = 4 << 20
        setsockopt(fd, SOL_SOCKET, 33 /* SO_RCVBUFFORCE */, &size, socklen_t(MemoryLayout<Int32>.size))
        // struct sockaddr_nl { u16 family; u16 pad; u32 pid; u32 groups = 1 }
        var address: [UInt8] = [UInt8(AF_NETLINK), 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]
        let bound = address.withUnsafeMutableBytes {
            bind(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(12))
        }
        guard bound == 0 else {
            let error = Errno.current
            Glibc.close(fd)
            throw SysGenIDError(error, "bind(NETLINK_KOBJECT_UEVENT)")
        }
    }

    func next(timeoutMilliseconds: Int) -> UInt32? {
        let end = monotonicMilliseconds() + Int64(timeoutMilliseconds)
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let left = end - monotonicMilliseconds()
            guard left > 0 else { return nil }
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard Glibc.poll(&descriptor, 1, Int32(left)) > 0 else { return nil }
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            guard count > 0 else { continue }
            let fields = buffer[..<count].split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard fields.contains("ACTION=change"), fields.contains("DEVNAME=sysgenid"),
                  let value = fields.first(where: { $0.hasPrefix("SYSGENID=") }).flatMap({ UInt32($0.dropFirst(9)) })
            else { continue }
            return value
        }
    }

    func close() { Glibc.close(fd) }
}

/// `event SYSGENID=N` lines from a subscribed provider connection.
final class ProviderEventSource: EventSource {
    let connection: SocketTransport

    init(socketPath: String) throws(SysGenIDError) {
        connection = try SocketTransport(socketPath: socketPath)
        if case .failure(let error) = connection.subscribe() {
            connection.close()
            throw SysGenIDError(error, "subscribe", path: socketPath)
        }
    }

    func next(timeoutMilliseconds: Int) -> UInt32? {
        (try? connection.nextEvent(timeoutMilliseconds: Int32(timeoutMilliseconds)).get()) ?? nil
    }

    func close() { connection.close() }
}

// MARK: - process helpers

@_silgen_name("capset")
private func c_capset(_ header: UnsafeMutableRawPointer, _ data: UnsafeMutableRawPointer) -> Int32

/// Keeps only `capabilities` (numbers) as effective and permitted.
func keepCapabilities(_ capabilities: [Int]) -> Bool {
    var header: (UInt32, Int32) = (0x2008_0522 /* _LINUX_CAPABILITY_VERSION_3 */, 0)
    // Two __user_cap_data_struct: effective, permitted, inheritable.
    var data: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0, 0, 0)
    for capability in capabilities {
        if capability < 32 {
            data.0 |= 1 << UInt32(capability); data.1 |= 1 << UInt32(capability)
        } else {
            data.3 |= 1 << UInt32(capability - 32); data.4 |= 1 << UInt32(capability - 32)
        }
    }
    return withUnsafeMutableBytes(of: &header) { h in
        withUnsafeMutableBytes(of: &data) { d in c_capset(h.baseAddress!, d.baseAddress!) == 0 }
    }
}

func becomeNobody() -> Bool {
    setgroups(0, nil) == 0 && setgid(65534) == 0 && setuid(65534) == 0
}

/// posix_spawn + waitpid: the exit status, or -1.
public func spawnAndWait(_ arguments: [String]) -> Int32 {
    var pid = pid_t()
    var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    let spawned = posix_spawn(&pid, arguments[0], nil, nil, &argv, environ)
    guard spawned == 0 else { return -1 }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
        if errno != EINTR { return -1 }
    }
    // WIFEXITED / WEXITSTATUS
    guard status & 0x7f == 0 else { return -1 }
    return (status >> 8) & 0xff
}

func readFile(_ path: String) throws(SysGenIDError) -> [UInt8] {
    let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw SysGenIDError(.current, "open", path: path) }
    defer { Glibc.close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if count < 0 {
            if errno == EINTR { continue }
            throw SysGenIDError(.current, "read", path: path)
        }
        if count == 0 { return bytes }
        bytes += chunk[..<count]
    }
}

private func ignoreSignal(_: Int32) {}

/// SIGUSR1 interrupts blocking calls; SIGUSR2 restarts them (SA_RESTART).
func installSignalHandlers() {
    for (signalNumber, flags) in [(SIGUSR1, Int32(0)), (SIGUSR2, Int32(SA_RESTART))] {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = ignoreSignal
        action.sa_flags = flags
        sigemptyset(&action.sa_mask)
        sigaction(signalNumber, &action, nil)
    }
}

// MARK: - epoll (not in Swift's Glibc module)

@_silgen_name("epoll_create1") private func c_epoll_create1(_ flags: Int32) -> Int32
@_silgen_name("epoll_ctl") private func c_epoll_ctl(_ epfd: Int32, _ op: Int32, _ fd: Int32, _ event: UnsafeMutableRawPointer) -> Int32
@_silgen_name("epoll_wait")
private func c_epoll_wait(_ epfd: Int32, _ events: UnsafeMutableRawPointer, _ maximum: Int32, _ timeout: Int32) -> Int32

/// One epoll instance watching one fd for EPOLLIN (x86-64's packed
/// 12-byte `struct epoll_event`).
struct Epoll {
    let fd: Int32

    init?(watching watched: Int32) {
        fd = c_epoll_create1(O_CLOEXEC)
        guard fd >= 0 else { return nil }
        var event = [UInt8](repeating: 0, count: 16)
        event[0] = 1  // EPOLLIN
        withUnsafeBytes(of: watched) { for i in 0..<4 { event[4 + i] = $0[i] } }
        _ = event.withUnsafeMutableBytes { c_epoll_ctl(fd, 1 /* EPOLL_CTL_ADD */, watched, $0.baseAddress!) }
    }

    /// epoll_wait(timeout): (return value, events of the first entry).
    func wait(timeoutMilliseconds: Int32) -> (Int32, UInt32) {
        var events = [UInt8](repeating: 0, count: 16)
        let count = events.withUnsafeMutableBytes { c_epoll_wait(fd, $0.baseAddress!, 1, timeoutMilliseconds) }
        let mask = events.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
        return (count, mask)
    }

    func close() { _ = Glibc.close(fd) }
}

func isFailure<T>(_ result: Result<T, Errno>, _ expected: Errno) -> Bool {
    if case .failure(let error) = result { return error == expected }
    return false
}
