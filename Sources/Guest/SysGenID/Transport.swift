#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// `ioctl(2)` with its argument by value (the sysgenid requests take an
/// unsigned long, not a pointer). glibc's ioctl is variadic; on x86-64 and
/// arm64 an integer third argument is passed the same way.
@_silgen_name("ioctl")
private func c_ioctl(_ fd: Int32, _ request: UInt, _ argument: UInt) -> Int32

/// One open "file" of a sysgenid provider with each primitive exposed as
/// the exact call and its errno: a file descriptor of `/dev/sysgenid`, or a
/// connection to the userspace provider's socket. The conformance suite
/// checks both through this one interface.
public protocol SysGenIDTransport: AnyObject, Sendable {
    var kind: SysGenIDProviderKind { get }
    /// The device or socket path.
    var path: String { get }
    /// `read(fd, buf, count)`: nil when it returned 0, else the counter.
    func read(count: Int, nonBlocking: Bool) -> Result<UInt32?, Errno>
    /// `write(fd, bytes, bytes.count)`: the byte count written.
    func write(_ bytes: [UInt8]) -> Result<Int, Errno>
    /// `poll(POLLIN)`: readable within the timeout (ms, -1 forever, 0 now).
    func poll(timeoutMilliseconds: Int32) -> Result<Bool, Errno>
    /// Any ioctl request, argument by value.
    func ioctl(_ request: UInt64, _ argument: UInt64) -> Result<Int32, Errno>
    func close()
}

public enum SysGenIDProviderKind: String, Sendable {
    case device
    case userspace

    /// How the agent and the lab name it: the kernel module or the
    /// userspace provider.
    public var reportName: String { self == .device ? "module" : "userspace" }
}

extension SysGenIDTransport {
    /// Writes `value` native-endian: the acknowledgement.
    public func acknowledge(_ value: UInt32) -> Result<Void, Errno> {
        withUnsafeBytes(of: value) { write(Array($0)) }.map { _ in () }
    }

    public func setTracking(_ argument: UInt64) -> Result<Void, Errno> {
        ioctl(SysGenIDIoctl.setWatcherTracking, argument).map { _ in () }
    }

    public func waitWatchers(timeoutMilliseconds: UInt64) -> Result<Void, Errno> {
        ioctl(SysGenIDIoctl.waitWatchers, timeoutMilliseconds).map { _ in () }
    }

    public func trigger(minimum: UInt64) -> Result<Void, Errno> {
        ioctl(SysGenIDIoctl.triggerGenUpdate, minimum).map { _ in () }
    }
}

/// A file descriptor of `/dev/sysgenid`.
public final class DeviceTransport: SysGenIDTransport, @unchecked Sendable {
    public let kind = SysGenIDProviderKind.device
    public let path: String
    public let fd: Int32

    public init(path: String = SysGenIDProvider.defaultDevicePath, flags: Int32 = O_RDWR) throws(SysGenIDError) {
        self.path = path
        fd = Glibc.open(path, flags | O_CLOEXEC)
        guard fd >= 0 else { throw SysGenIDError(.current, "open", path: path) }
    }

    public func read(count: Int, nonBlocking: Bool) -> Result<UInt32?, Errno> {
        let flags = fcntl(fd, F_GETFL)
        let wasNonBlocking = flags & O_NONBLOCK != 0
        if wasNonBlocking != nonBlocking {
            _ = fcntl(fd, F_SETFL, nonBlocking ? flags | O_NONBLOCK : flags & ~O_NONBLOCK)
        }
        defer { if wasNonBlocking != nonBlocking { _ = fcntl(fd, F_SETFL, flags) } }
        var buffer = [UInt8](repeating: 0, count: max(count, 4))
        let result = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, count) }
        if result < 0 { return .failure(.current) }
        if result == 0 { return .success(nil) }
        guard result == 4 else { return .failure(.EPROTO) }
        return .success(buffer.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) })
    }

    public func write(_ bytes: [UInt8]) -> Result<Int, Errno> {
        // write(n == 0) must still reach the driver: pass a valid pointer.
        var copy = bytes + [0]
        let result = copy.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress, bytes.count) }
        return result < 0 ? .failure(.current) : .success(result)
    }

    public func poll(timeoutMilliseconds: Int32) -> Result<Bool, Errno> {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let result = Glibc.poll(&descriptor, 1, timeoutMilliseconds)
        if result < 0 { return .failure(.current) }
        return .success(result > 0 && descriptor.revents & Int16(POLLIN) != 0)
    }

    /// The raw revents of a zero-timeout poll asking for IN, RDNORM and OUT.
    public func pollEvents() -> Int16 {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN | POLLRDNORM | POLLOUT), revents: 0)
        return Glibc.poll(&descriptor, 1, 0) < 0 ? -1 : descriptor.revents
    }

    public func ioctl(_ request: UInt64, _ argument: UInt64) -> Result<Int32, Errno> {
        let result = c_ioctl(fd, UInt(request), UInt(argument))
        return result < 0 ? .failure(.current) : .success(result)
    }

    public func close() {
        _ = Glibc.close(fd)
    }
}

/// A connection to the userspace provider (see `ProviderRequest`).
public final class SocketTransport: SysGenIDTransport, @unchecked Sendable {
    public let kind = SysGenIDProviderKind.userspace
    public let path: String
    public let fd: Int32
    /// The `hello` reply: provider, protocol, counter, page.
    public private(set) var hello: ProviderReply = .ok([])
    private let lock = Monitor()
    private var pending: [UInt8] = []
    /// Events that arrived while waiting for a reply (after `subscribe`).
    private var events: [UInt32] = []

    public init(socketPath: String = SysGenIDProvider.defaultSocketPath) throws(SysGenIDError) {
        path = socketPath
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SysGenIDError(.current, "socket", path: socketPath) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(socketPath.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            Glibc.close(fd)
            throw SysGenIDError(.EINVAL, "connect", path: socketPath, detail: "socket path too long")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else {
            let error = Errno.current
            Glibc.close(fd)
            throw SysGenIDError(error, "connect", path: socketPath)
        }
        switch exchange(.hello) {
        case .success(let reply): hello = reply
        case .failure(let error):
            Glibc.close(fd)
            throw SysGenIDError(error, "hello", path: socketPath, detail: "the provider did not greet")
        }
    }

    /// Sends one request and returns its reply; an `err` reply becomes the
    /// failure's errno. One request at a time per connection.
    public func exchange(_ request: ProviderRequest) -> Result<ProviderReply, Errno> {
        lock.locked {
            if let error = sendLine(request.line) {
                // A provider that refuses a connection (too many from one
                // uid) says why in one line and closes it: that line is the answer.
                if error == .EPIPE, case .success(let line) = readLine(),
                   case .error(let refusal, _)? = try? ProviderReply(line: line) { return .failure(refusal) }
                return .failure(error)
            }
            while true {
                switch readLine() {
                case .failure(let error): return .failure(error)
                case .success(let line):
                    guard let reply = try? ProviderReply(line: line) else { return .failure(.EPROTO) }
                    switch reply {
                    case .event(let counter): events.append(counter)
                    case .error(let errno, _): return .failure(errno)
                    case .ok: return .success(reply)
                    }
                }
            }
        }
    }

    /// Interrupts a request blocked in another thread (it ends with EINTR),
    /// like a signal would. Safe from any thread.
    public func cancel() {
        _ = sendLine(ProviderRequest.cancel.line)
    }

    /// The next `event SYSGENID=N` after `subscribe`, waiting up to
    /// `timeoutMilliseconds` (-1 forever); nil on timeout.
    public func nextEvent(timeoutMilliseconds: Int32) -> Result<UInt32?, Errno> {
        lock.locked {
            if !events.isEmpty { return .success(events.removeFirst()) }
            let deadline = monotonicMilliseconds() + Int64(timeoutMilliseconds)
            while true {
                if !pending.contains(UInt8(ascii: "\n")) {
                    let left = timeoutMilliseconds < 0 ? -1 : Int32(max(0, deadline - monotonicMilliseconds()))
                    var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                    let ready = Glibc.poll(&descriptor, 1, left)
                    if ready < 0 && errno != EINTR { return .failure(.current) }
                    if ready == 0 { return .success(nil) }
                }
                switch readLine() {
                case .failure(let error): return .failure(error)
                case .success(let line):
                    if case .event(let counter)? = try? ProviderReply(line: line) { return .success(counter) }
                }
            }
        }
    }

    private func sendLine(_ line: String) -> Errno? {
        var bytes = Array(line.utf8)[...]
        while !bytes.isEmpty {
            let sent = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent < 0 {
                if errno == EINTR { continue }
                return .current
            }
            bytes = bytes.dropFirst(sent)
        }
        return nil
    }

    private func readLine() -> Result<String, Errno> {
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                return .success(line)
            }
            var chunk = [UInt8](repeating: 0, count: 512)
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0 {
                if errno == EINTR { continue }
                return .failure(.current)
            }
            if count == 0 { return .failure(.ECONNRESET) }
            pending += chunk[..<count]
        }
    }

    public func read(count: Int, nonBlocking: Bool) -> Result<UInt32?, Errno> {
        exchange(.read(count: count, nonBlocking: nonBlocking)).flatMap { reply in
            if reply["bytes"] == "0" { return .success(nil) }
            guard let value = reply["counter"].flatMap({ UInt32($0) }) else { return .failure(.EPROTO) }
            return .success(value)
        }
    }

    public func write(_ bytes: [UInt8]) -> Result<Int, Errno> {
        exchange(.write(bytes)).map { Int($0["bytes"] ?? "") ?? 4 }
    }

    public func poll(timeoutMilliseconds: Int32) -> Result<Bool, Errno> {
        exchange(.poll(timeoutMilliseconds: timeoutMilliseconds)).map { $0["readable"] == "1" }
    }

    public func ioctl(_ request: UInt64, _ argument: UInt64) -> Result<Int32, Errno> {
        exchange(.ioctl(request: request, argument: argument)).map { _ in 0 }
    }

    /// The provider's watcher counts: (counter, tracked, outdated, clients).
    public func watchers() -> Result<(counter: UInt32, tracked: Int, outdated: Int, clients: Int), Errno> {
        exchange(.watchers).flatMap { reply in
            guard let counter = reply["counter"].flatMap({ UInt32($0) }), let tracked = reply["tracked"].flatMap({ Int($0) }),
                  let outdated = reply["outdated"].flatMap({ Int($0) }), let clients = reply["clients"].flatMap({ Int($0) })
            else { return .failure(.EPROTO) }
            return .success((counter, tracked, outdated, clients))
        }
    }

    public func subscribe() -> Result<Void, Errno> {
        exchange(.subscribe).map { _ in () }
    }

    public func close() {
        _ = Glibc.close(fd)
    }
}

/// The read-only page whose first four bytes are the counter: an mmap of
/// the device or of the provider's page file. Reading it needs no syscall.
public final class GenerationPage: @unchecked Sendable {
    public static let size = 4096
    public let path: String
    public let base: UnsafeRawPointer

    /// Maps `fd` (kept open by the caller, or closed after: the mapping stays).
    public init(fd: Int32, path: String) throws(SysGenIDError) {
        self.path = path
        guard let mapped = mmap(nil, GenerationPage.size, PROT_READ, MAP_SHARED, fd, 0), mapped != MAP_FAILED else {
            throw SysGenIDError(.current, "mmap", path: path)
        }
        base = UnsafeRawPointer(mapped)
    }

    /// Opens `path` read-only and maps it.
    public convenience init(path: String) throws(SysGenIDError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SysGenIDError(.current, "open", path: path) }
        defer { Glibc.close(fd) }
        try self.init(fd: fd, path: path)
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: base), GenerationPage.size)
    }

    /// The counter now: one load from the shared page, never cached.
    public var current: UInt32 { volatileLoad(base) }
}

/// An atomic (acquire) load from the shared page: never cached or hoisted.
@inline(__always)
func volatileLoad(_ pointer: UnsafeRawPointer) -> UInt32 {
    UnsafePointer<Atomic<UInt32>>(OpaquePointer(pointer)).pointee.load(ordering: .acquiring)
}

/// An atomic (release) store to a shared page, for the provider.
@inline(__always)
public func atomicStore(_ value: UInt32, to pointer: UnsafeMutableRawPointer) {
    UnsafePointer<Atomic<UInt32>>(OpaquePointer(pointer)).pointee.store(value, ordering: .releasing)
}
