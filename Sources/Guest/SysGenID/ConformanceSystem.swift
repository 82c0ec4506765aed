#if canImport(Glibc)
import Glibc
#endif

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
