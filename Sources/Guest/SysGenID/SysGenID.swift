#if canImport(Glibc)
import Glibc
#endif

/// Where the generation counter comes from.
public enum SysGenIDProvider: Sendable, Equatable, CustomStringConvertible {
    /// `/dev/sysgenid` if it opens, else the userspace provider's socket if
    /// it exists.
    case automatic
    /// The kernel module's device.
    case device(path: String)
    /// The userspace provider (`sysgenidd --provider`).
    case userspace(socketPath: String, pagePath: String)

    public static let defaultDevicePath = "/dev/sysgenid"
    public static let defaultSocketPath = "/run/sysgenid/sysgenid.sock"
    public static let defaultPagePath = "/run/sysgenid/generation"
    public static let device = SysGenIDProvider.device(path: defaultDevicePath)
    public static let userspace = SysGenIDProvider.userspace(socketPath: defaultSocketPath, pagePath: defaultPagePath)

    public var description: String {
        switch self {
        case .automatic: return "automatic"
        case .device(let path): return "device \(path)"
        case let .userspace(socket, page): return "userspace \(socket) (page \(page))"
        }
    }

    /// Parses `device`, `userspace`, `module` (= device) or `automatic`.
    public init?(name: String) {
        switch name {
        case "device", "module": self = .device
        case "userspace", "provider": self = .userspace
        case "automatic", "auto": self = .automatic
        default: return nil
        }
    }

    /// Resolves `.automatic` to what is there; says clearly when nothing is.
    public func resolved() throws(SysGenIDError) -> SysGenIDProvider {
        guard case .automatic = self else { return self }
        let fd = open(SysGenIDProvider.defaultDevicePath, O_RDONLY | O_CLOEXEC)
        if fd >= 0 {
            close(fd)
            return .device
        }
        let deviceError = Errno.current
        if access(SysGenIDProvider.defaultSocketPath, F_OK) == 0 { return .userspace }
        throw SysGenIDError(deviceError, "open", path: SysGenIDProvider.defaultDevicePath,
                            detail: "and no userspace provider socket at \(SysGenIDProvider.defaultSocketPath); "
                                + "load sysgenid.ko or start `sysgenidd --provider`")
    }

    public var kind: SysGenIDProviderKind? {
        switch self {
        case .automatic: return nil
        case .device: return .device
        case .userspace: return .userspace
        }
    }

    /// A new open "file" of this provider (resolving `.automatic`).
    public func openTransport(flags: Int32 = O_RDWR) throws(SysGenIDError) -> any SysGenIDTransport {
        switch try resolved() {
        case .device(let path): return try DeviceTransport(path: path, flags: flags)
        case .userspace(let socket, _): return try SocketTransport(socketPath: socket)
        case .automatic: fatalError("resolved() never returns .automatic")
        }
    }

    /// The read-only counter page (the device mapping or the page file).
    public func mapPage() throws(SysGenIDError) -> GenerationPage {
        switch try resolved() {
        case .device(let path): return try GenerationPage(path: path)
        case .userspace(_, let page): return try GenerationPage(path: page)
        case .automatic: fatalError("resolved() never returns .automatic")
        }
    }
}

/// A consumer of the system generation counter: one open file (or provider
/// connection) with its own acknowledged copy, plus the mapped page.
///
///     let genid = try SysGenID()
///     print(genid.current)
///     for await generation in genid.generations() {
///         reseed()
///         try genid.acknowledge(generation)
///     }
public final class SysGenID: @unchecked Sendable {
    public let provider: SysGenIDProvider
    public let transport: any SysGenIDTransport
    /// Nil when the page could not be mapped; `current` then asks the transport.
    public let page: GenerationPage?
    public let pageError: SysGenIDError?
    private let monitor = Monitor()
    private var acknowledgedValue: UInt32

    public init(provider: SysGenIDProvider = .automatic) throws(SysGenIDError) {
        let resolved = try provider.resolved()
        self.provider = resolved
        transport = try resolved.openTransport()
        do {
            page = try resolved.mapPage()
            pageError = nil
        } catch {
            page = nil
            pageError = error
        }
        acknowledgedValue = 0
        acknowledgedValue = current
    }

    deinit { transport.close() }

    public var kind: SysGenIDProviderKind { transport.kind }

    /// The counter now: the mapped page (no syscall), else the provider.
    public var current: UInt32 {
        if let page { return page.current }
        if let socket = transport as? SocketTransport, case .success(let state) = socket.watchers() {
            return state.counter
        }
        return acknowledgedValue
    }

    /// Blocks until this handle is outdated and returns the new counter
    /// (nil with `nonBlocking` when nothing is new).
    public func next(nonBlocking: Bool = false) throws(SysGenIDError) -> UInt32? {
        switch transport.read(count: 4, nonBlocking: nonBlocking) {
        case .success(let value): return value
        case .failure(.EAGAIN) where nonBlocking: return nil
        case .failure(let error): throw SysGenIDError(error, "read", path: transport.path)
        }
    }

    /// True while a generation is waiting to be acknowledged.
    public func isOutdated(timeoutMilliseconds: Int32 = 0) throws(SysGenIDError) -> Bool {
        switch transport.poll(timeoutMilliseconds: timeoutMilliseconds) {
        case .success(let readable): return readable
        case .failure(let error): throw SysGenIDError(error, "poll", path: transport.path)
        }
    }

    /// Acknowledges `generation` (EINVAL if it is no longer current).
    public func acknowledge(_ generation: UInt32) throws(SysGenIDError) {
        if case .failure(let error) = transport.acknowledge(generation) {
            throw SysGenIDError(error, "acknowledge", path: transport.path, detail: "generation \(generation)")
        }
        monitor.locked {
            acknowledgedValue = generation
            monitor.broadcast()
        }
    }

    /// Counts this handle as a tracked watcher (WAIT_WATCHERS waits for it).
    public func setTracking(_ on: Bool) throws(SysGenIDError) {
        if case .failure(let error) = transport.setTracking(on ? 1 : 0) {
            throw SysGenIDError(error, "SET_WATCHER_TRACKING", path: transport.path)
        }
    }

    /// Waits until no tracked watcher is outdated. 0 = no timeout (ETIME
    /// otherwise); EINTR if this handle itself is outdated.
    public func waitForWatchers(timeoutMilliseconds: UInt32 = 0) throws(SysGenIDError) {
        if case .failure(let error) = transport.waitWatchers(timeoutMilliseconds: UInt64(timeoutMilliseconds)) {
            throw SysGenIDError(error, "WAIT_WATCHERS", path: transport.path,
                                detail: error == .ETIME ? "timed out after \(timeoutMilliseconds) ms" : nil)
        }
    }

    /// Raises the counter to max(minimum, counter + 1); needs
    /// CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN. Returns the new counter.
    @discardableResult
    public func trigger(minimum: UInt32 = 0) throws(SysGenIDError) -> UInt32 {
        if case .failure(let error) = transport.trigger(minimum: UInt64(minimum)) {
            throw SysGenIDError(error, "TRIGGER_GEN_UPDATE", path: transport.path)
        }
        return current
    }

    /// Each new generation once. A thread polls this handle; after yielding
    /// a value it waits until the consumer acknowledges it (or, with
    /// `autoAcknowledge`, acknowledges it itself) before looking again.
    public func generations(autoAcknowledge: Bool = false) -> AsyncStream<UInt32> {
        let (stream, continuation) = AsyncStream.makeStream(of: UInt32.self)
        let stopped = Completion<Bool>()
        continuation.onTermination = { _ in stopped.complete(true) }
        PosixThread.detach { [self] in
            while !stopped.isComplete {
                guard case .success(true) = transport.poll(timeoutMilliseconds: 200) else { continue }
                guard case .success(let value?) = transport.read(count: 4, nonBlocking: true) else { continue }
                continuation.yield(value)
                if autoAcknowledge {
                    try? acknowledge(value)
                    continue
                }
                // Wait for the consumer's acknowledgement of this (or a newer) value.
                monitor.locked {
                    while acknowledgedValue < value && !stopped.isComplete {
                        monitor.wait(untilMonotonicNanoseconds: monotonicNanoseconds() + 200_000_000)
                        // A newer generation makes this one stale: look again.
                        if case .success(let fresh?) = transport.read(count: 4, nonBlocking: true), fresh != value { break }
                    }
                }
            }
            continuation.finish()
        }
        return stream
    }
}
