#if canImport(Glibc)
import Glibc
#endif
import SysGenID

/// The userspace provider: the sysgenid contract without the kernel
/// module. One `GenerationState` under one lock; a page file whose first
/// four bytes mirror the counter; a UNIX socket where each connection is
/// one open file (see `ProviderRequest` for the protocol).
///
/// One thread serves every connection with poll(): the socket is
/// world-connectable, and a thread per connection would let any local user
/// make the provider start threads until it failed. Each uid holds at most
/// `ConnectionLimit.perUID` connections, all uids but root together at most
/// `ConnectionLimit.total`. After anything happens the loop
/// re-evaluates every connection's blocked request and subscription, so no
/// wake-up is lost; state changes made by other threads (the hardware
/// watchers) wake it through a pipe.
final class Provider: @unchecked Sendable {
    static let defaultConnectionsPerUID = 256
    /// All uids but root together; lowered at start so that at least 512
    /// descriptors (or half the limit) stay for root's connections, the
    /// /proc reads of TRIGGER, the hooks and /dev/mem (`ConnectionLimit.total`).
    static let defaultConnectionsTotal = 4096
    /// A client that sends requests without reading the replies is dropped
    /// once this much waits for it (the loop reads no more from it meanwhile).
    static let maximumPendingOutput = 1 << 20

    let socketPath: String
    let pagePath: String
    private let monitor = Monitor()
    private var state = GenerationState()
    private var page: UnsafeMutableRawPointer?
    private var wakeRead: Int32 = -1
    private var wakeWrite: Int32 = -1
    private var listenFD: Int32 = -1

    // The loop thread's own.
    private var connections: [Int32: ProviderConnection] = [:]
    private var limit: ConnectionLimit
    private var acceptPausedUntil: Int64 = 0

    private let configuredTotal: Int

    init(socketPath: String, pagePath: String, connectionsPerUID: Int = Provider.defaultConnectionsPerUID,
         connectionsTotal: Int = Provider.defaultConnectionsTotal) {
        self.socketPath = socketPath
        self.pagePath = pagePath
        configuredTotal = connectionsTotal
        limit = ConnectionLimit(perUID: connectionsPerUID, total: connectionsTotal)
    }

    var counter: UInt32 { monitor.locked { state.counter } }

    func watchers() -> (counter: UInt32, tracked: Int, outdated: Int, clients: Int) {
        monitor.locked { (state.counter, state.trackedCount, state.outdatedTrackedCount, state.clients.count) }
    }

    /// Creates the page file and the socket, then serves on a thread.
    func start() throws {
        let directory = String(pagePath[..<(pagePath.lastIndex(of: "/") ?? pagePath.startIndex)])
        if !directory.isEmpty {
            mkdir(directory, 0o755)
            chmod(directory, 0o755)
        }
        let socketDirectory = String(socketPath[..<(socketPath.lastIndex(of: "/") ?? socketPath.startIndex)])
        if !socketDirectory.isEmpty { mkdir(socketDirectory, 0o755) }

        // The page: written in place, never replaced, so mappings follow it.
        unlink(pagePath)
        let fd = open(pagePath, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SystemCallError("open", pagePath) }
        defer { close(fd) }
        fchmod(fd, 0o644)
        guard ftruncate(fd, off_t(GenerationPage.size)) == 0 else { throw SystemCallError("ftruncate", pagePath) }
        guard let mapped = mmap(nil, GenerationPage.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), mapped != MAP_FAILED else {
            throw SystemCallError("mmap", pagePath)
        }
        page = mapped
        atomicStore(state.counter, to: mapped)

        guard let wake = closeOnExecPipe(nonBlocking: true) else { throw SystemCallError("pipe2", "(wake-up pipe)") }
        (wakeRead, wakeWrite) = wake
        let descriptors = raiseDescriptorLimit()
        limit = ConnectionLimit(perUID: limit.perUID,
                                total: ConnectionLimit.total(configured: configuredTotal, descriptors: descriptors))

        unlink(socketPath)
        listenFD = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard listenFD >= 0 else { throw SystemCallError("socket", socketPath) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(socketPath.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.prefix(raw.count - 1).enumerated() { raw[index] = byte }
        }
        let serverFD = listenFD
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(serverFD, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw SystemCallError("bind", socketPath) }
        // Anyone may connect: every request changes only the caller's own
        // connection state, TRIGGER is decided from the credentials taken
        // at connect (PeerCredentials), and each uid's connections are capped.
        chmod(socketPath, 0o666)
        guard listen(listenFD, 128) == 0 else { throw SystemCallError("listen", socketPath) }
        PosixThread.detach { [self] in serve() }
        log("userspace provider: page \(pagePath), socket \(socketPath), counter \(state.counter), "
            + "at most \(limit.perUID) connections per uid and \(limit.total) from all uids but root "
            + "(descriptor limit \(descriptors))")
    }

    /// Every connection is a descriptor: up to the hard limit, so that the
    /// per-uid cap, not the default soft limit (1024), decides who is refused.
    /// The soft limit afterwards.
    private func raiseDescriptorLimit() -> Int {
        var limits = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limits) == 0 else { return 1024 }
        if limits.rlim_cur < limits.rlim_max {
            var raised = limits
            raised.rlim_cur = limits.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limits = raised }
        }
        return Int(clamping: limits.rlim_cur)
    }

    // MARK: the loop

    private func serve() -> Never {
        while true {
            let now = monotonicMilliseconds()
            let accepting = now >= acceptPausedUntil
            let served = Array(connections.values)
            var descriptors = [pollfd(fd: accepting ? listenFD : -1, events: Int16(POLLIN), revents: 0),
                               pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            descriptors += served.map { pollfd(fd: $0.fd, events: $0.pollEvents, revents: 0) }
            var timeout: Int64 = accepting ? -1 : acceptPausedUntil - now
            for deadline in served.compactMap(\.deadline) {
                // Deadlines come from clients' numbers: subtract without trapping.
                let left = max(0, deadline.subtractingReportingOverflow(now).overflow ? Int64.max : deadline - now)
                timeout = timeout < 0 ? left : min(timeout, left)
            }
            if poll(&descriptors, nfds_t(descriptors.count), Int32(clamping: timeout)) < 0 {
                if errno != EINTR { log("\(SystemCallError("poll", socketPath))"); sleepMilliseconds(100) }
                continue
            }
            if descriptors[1].revents != 0 {
                var drain = [UInt8](repeating: 0, count: 256)
                while drain.withUnsafeMutableBytes({ read(wakeRead, $0.baseAddress, $0.count) }) > 0 {}
            }
            if descriptors[0].revents != 0 { acceptWaiting() }
            for (connection, descriptor) in zip(served, descriptors.dropFirst(2)) where descriptor.revents != 0 {
                if !connection.handle(events: descriptor.revents) { drop(connection) }
            }
            // Any state change may complete a blocked request or call for an event.
            for connection in Array(connections.values) where !connection.reevaluate() { drop(connection) }
        }
    }

    private func acceptWaiting() {
        for _ in 0..<64 {
            let fd = acceptCloseOnExec(listenFD)
            if fd < 0 {
                switch errno {
                case EAGAIN, EINTR, ECONNABORTED: return
                default:
                    // EMFILE, ENFILE, ENOMEM: try again a little later rather than spin.
                    log("\(SystemCallError("accept", socketPath)); accepting again in 100 ms")
                    acceptPausedUntil = monotonicMilliseconds() + 100
                    return
                }
            }
            guard let peer = PeerCredentials(socket: fd) else {
                close(fd)
                continue
            }
            if let refusal = limit.admit(peer.uid) {
                refuse(fd, peer, refusal)
                continue
            }
            let connection = ProviderConnection(provider: self, fd: fd, id: register(), peer: peer)
            connections[fd] = connection
        }
    }

    /// Says why in one line (the client reads it as the answer to its
    /// first request), then closes.
    private func refuse(_ fd: Int32, _ peer: PeerCredentials, _ refusal: ConnectionLimit.Refusal) {
        let reason = switch refusal {
        case .perUID: "too many connections from uid \(peer.uid) (at most \(limit.perUID) per uid)"
        case .total: "too many connections in all (at most \(limit.total) from uids other than root; uid \(peer.uid) refused)"
        }
        let line = ProviderReply.error(Errno(EMFILE), reason).line
        _ = line.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        close(fd)
        if limit.shouldReport(peer.uid, refusal) { log("provider: refused pid \(peer.pid): \(reason)") }
    }

    private func drop(_ connection: ProviderConnection) {
        guard connections.removeValue(forKey: connection.fd) != nil else { return }
        withState { $0.close(connection.id) }
        limit.release(connection.peer.uid)
        close(connection.fd)
    }

    // MARK: state changes

    func withState<T>(_ body: (inout GenerationState) -> T) -> T {
        monitor.locked {
            let before = state
            let result = body(&state)
            if state != before {
                if state.counter != before.counter, let page { atomicStore(state.counter, to: page) }
                // Wakes the loop when the change came from another thread
                // (a full pipe already will).
                var byte: UInt8 = 1
                _ = write(wakeWrite, &byte, 1)
            }
            return result
        }
    }

    private func register() -> Int {
        monitor.locked { state.open() }
    }

    /// A hardware-driven change: one bump.
    func bump(reason: String) {
        let value = withState { $0.bump() }
        log("generation \(value.map(String.init) ?? "saturated") (\(reason))")
    }
}
