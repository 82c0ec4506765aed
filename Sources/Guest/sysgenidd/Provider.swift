#if canImport(Glibc)
import Glibc
#endif
import SysGenID

/// The userspace provider: the sysgenid contract without the kernel
/// module. One `GenerationState` under one lock; a page file whose first
/// four bytes mirror the counter; a UNIX socket where each connection is
/// one open file (see `ProviderRequest` for the protocol). Each connection
/// has a thread; a state change wakes every connection thread through its
/// wake pipe, and each re-evaluates what it waits for, so no wake-up is lost.
final class Provider: @unchecked Sendable {
    let socketPath: String
    let pagePath: String
    private let monitor = Monitor()
    private var state = GenerationState()
    private var page: UnsafeMutableRawPointer?
    private var wakeFDs: [Int: Int32] = [:]
    private var listenFD: Int32 = -1

    init(socketPath: String, pagePath: String) {
        self.socketPath = socketPath
        self.pagePath = pagePath
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

        unlink(socketPath)
        listenFD = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
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
        // connection state, and TRIGGER checks the peer's capabilities.
        chmod(socketPath, 0o666)
        guard listen(listenFD, 128) == 0 else { throw SystemCallError("listen", socketPath) }
        PosixThread.detach { [self] in acceptLoop(serverFD) }
        log("userspace provider: page \(pagePath), socket \(socketPath), counter \(state.counter)")
    }

    private func acceptLoop(_ listenFD: Int32) {
        while true {
            let client = accept(listenFD, nil, nil)
            if client < 0 {
                if errno != EINTR && errno != ECONNABORTED { log("\(SystemCallError("accept", socketPath))"); usleep(100_000) }
                continue
            }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            PosixThread.detach { [self] in ProviderConnection(provider: self, fd: client).serve() }
        }
    }

    // MARK: state changes (each wakes every connection)

    func withState<T>(_ body: (inout GenerationState) -> T) -> T {
        monitor.locked {
            let before = state
            let result = body(&state)
            if state != before {
                if state.counter != before.counter, let page { atomicStore(state.counter, to: page) }
                wakeAll()
            }
            return result
        }
    }

    func register(wakeFD: Int32) -> Int {
        monitor.locked {
            let id = state.open()
            wakeFDs[id] = wakeFD
            return id
        }
    }

    func unregister(_ id: Int) {
        withState { $0.close(id) }
        monitor.locked { wakeFDs[id] = nil }
    }

    /// Call with the lock held.
    private func wakeAll() {
        var byte: UInt8 = 1
        for fd in wakeFDs.values { _ = write(fd, &byte, 1) }
    }

    /// A hardware-driven change: one bump.
    func bump(reason: String) {
        let value = withState { $0.bump() }
        log("generation \(value.map(String.init) ?? "saturated") (\(reason))")
    }
}

/// One client connection: one open file's state.
final class ProviderConnection {
    let provider: Provider
    let fd: Int32
    private var id = 0
    private var wakeRead: Int32 = -1
    private var wakeWrite: Int32 = -1
    private var input: [UInt8] = []
    private var peerPid: pid_t = 0
    private var peerUid: uid_t = .max

    /// A blocking request waiting for its condition (and deadline, ms).
    private var pending: (request: ProviderRequest, deadline: Int64?)?
    private var subscribed = false
    private var lastEvent: UInt32 = 0

    init(provider: Provider, fd: Int32) {
        self.provider = provider
        self.fd = fd
    }

    func serve() {
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else { close(fd); return }
        wakeRead = pipeFDs[0]
        wakeWrite = pipeFDs[1]
        for end in pipeFDs {
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
        }
        readPeerCredentials()
        id = provider.register(wakeFD: wakeWrite)
        defer {
            provider.unregister(id)
            close(fd)
            close(wakeRead)
            close(wakeWrite)
        }
        while true {
            completePending()
            sendEvents()
            var timeout: Int32 = -1
            if let deadline = pending?.deadline {
                timeout = Int32(clamping: max(0, deadline - monotonicMilliseconds()))
            }
            var descriptors = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
                               pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&descriptors, 2, timeout)
            if ready < 0 && errno != EINTR { return }
            if descriptors[1].revents != 0 {
                var drain = [UInt8](repeating: 0, count: 256)
                while drain.withUnsafeMutableBytes({ read(wakeRead, $0.baseAddress, $0.count) }) > 0 {}
            }
            if descriptors[0].revents != 0 {
                var chunk = [UInt8](repeating: 0, count: 4096)
                let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if count == 0 || (count < 0 && errno != EINTR && errno != EAGAIN) { return }  // closed: close()
                if count > 0 { input += chunk[..<count] }
                if !processInput() { return }
            }
        }
    }

    private func readPeerCredentials() {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
        var credentials: (Int32, UInt32, UInt32) = (0, .max, .max)
        var length = socklen_t(12)
        if getsockopt(fd, SOL_SOCKET, 17 /* SO_PEERCRED */, &credentials, &length) == 0 {
            peerPid = credentials.0
            peerUid = credentials.1
        }
    }

    /// Handles every complete line; false to drop the connection.
    private func processInput() -> Bool {
        while let newline = input.firstIndex(of: UInt8(ascii: "\n")) {
            let line = String(decoding: input[..<newline], as: UTF8.self)
            input.removeSubrange(...newline)
            let request: ProviderRequest
            do {
                request = try ProviderRequest(line: line)
            } catch {
                if pending == nil { send(.error(.EINVAL, "\(error)")) }
                continue
            }
            if request == .cancel {
                // Like a signal: the blocked call ends with EINTR. A cancel
                // that raced with the reply is dropped (nothing to answer).
                if pending != nil {
                    pending = nil
                    send(.error(.EINTR, "cancelled"))
                }
                continue
            }
            if pending != nil {
                send(.error(.EPROTO, "one request at a time"))
                return false
            }
            handle(request)
        }
        if input.count > ProviderRequest.maximumLineLength {
            send(.error(.EINVAL, "line too long"))
            return false
        }
        return true
    }

    private func handle(_ request: ProviderRequest) {
        switch request {
        case .hello:
            let counter = provider.counter
            send(.ok([("provider", "sysgenidd"), ("protocol", String(ProviderRequest.protocolVersion)),
                      ("counter", String(counter)), ("page", provider.pagePath)]))
        case let .read(count, nonBlocking):
            let outcome = provider.withState { $0.read(id, count: count, nonBlocking: nonBlocking) }
            switch outcome {
            case .empty: send(.ok([("bytes", "0")]))
            case .value(let value): send(.ok([("bytes", "4"), ("counter", String(value))]))
            case .failure(let error): send(.error(error, ""))
            case .wouldBlock: pending = (request, nil)
            }
        case .write(let bytes):
            if let error = provider.withState({ $0.write(id, bytes: bytes) }) { send(.error(error, "")) } else {
                send(.ok([("bytes", "4")]))
            }
        case .acknowledge(let value):
            if let error = provider.withState({ $0.acknowledge(id, value: value) }) { send(.error(error, "")) } else {
                send(.ok([("bytes", "4")]))
            }
        case .poll(let timeout):
            if provider.withState({ $0.readable(id) }) || timeout == 0 {
                send(.ok([("readable", provider.withState { $0.readable(id) } ? "1" : "0")]))
            } else {
                pending = (request, timeout < 0 ? nil : monotonicMilliseconds() + Int64(timeout))
            }
        case let .ioctl(requestNumber, argument):
            let privileged = requestNumber == SysGenIDIoctl.triggerGenUpdate ? peerIsPrivileged() : false
            let outcome = provider.withState {
                $0.ioctl(id, request: requestNumber, argument: argument, privileged: privileged)
            }
            switch outcome {
            case .success: send(.ok([]))
            case .triggered(let value):
                log("generation \(value) (TRIGGER by pid \(peerPid))")
                send(.ok([("counter", String(value))]))
            case .failure(let error): send(.error(error, ""))
            case .wouldBlock:
                // WAIT_WATCHERS: argument = timeout in ms, 0 = none.
                pending = (request, argument == 0 ? nil : monotonicMilliseconds() + Int64(clamping: argument))
            }
        case .watchers:
            let w = provider.watchers()
            send(.ok([("counter", String(w.counter)), ("tracked", String(w.tracked)),
                      ("outdated", String(w.outdated)), ("clients", String(w.clients))]))
        case .subscribe:
            subscribed = true
            lastEvent = provider.counter
            send(.ok([("counter", String(lastEvent))]))
        case .cancel:
            break
        }
    }

    /// Re-evaluates the blocked request, if any.
    private func completePending() {
        guard let (request, deadline) = pending else { return }
        let expired = deadline.map { monotonicMilliseconds() >= $0 } ?? false
        switch request {
        case .read:
            if case .value(let value) = provider.withState({ $0.read(id, count: 4, nonBlocking: true) }) {
                pending = nil
                send(.ok([("bytes", "4"), ("counter", String(value))]))
            }
        case .poll:
            let readable = provider.withState { $0.readable(id) }
            if readable || expired {
                pending = nil
                send(.ok([("readable", readable ? "1" : "0")]))
            }
        case .ioctl:
            switch provider.withState({ $0.waitWatchers(id) }) {
            case .done:
                pending = nil
                send(.ok([]))
            case .failure(let error):
                pending = nil
                send(.error(error, "this connection is outdated"))
            case .wouldBlock:
                if expired {
                    pending = nil
                    send(.error(.ETIME, "watchers still outdated"))
                }
            }
        default:
            pending = nil
        }
    }

    private func sendEvents() {
        guard subscribed else { return }
        let counter = provider.counter
        if counter != lastEvent {
            lastEvent = counter
            send(.event(counter: counter))
        }
    }

    private func send(_ reply: ProviderReply) {
        var bytes = Array(reply.line.utf8)[...]
        while !bytes.isEmpty {
            let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent < 0 {
                if errno == EINTR { continue }
                return
            }
            bytes = bytes.dropFirst(sent)
        }
    }

    /// TRIGGER needs CAP_CHECKPOINT_RESTORE (40) or CAP_SYS_ADMIN (21) in
    /// the peer's effective set, as the module's capable() check: uid 0
    /// without them is refused too. The peer is the process that connected
    /// (SO_PEERCRED), looked up in /proc/<pid>/status at the call.
    private func peerIsPrivileged() -> Bool {
        guard peerPid > 0, let status = try? readWholeFile("/proc/\(peerPid)/status") else { return false }
        let text = String(decoding: status, as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
              let mask = UInt64(line.dropFirst(7).trimmingCharacters(), radix: 16) else { return false }
        return mask & (1 << 21) != 0 || mask & (1 << 40) != 0
    }
}

extension Substring {
    func trimmingCharacters() -> Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return text
    }
}
