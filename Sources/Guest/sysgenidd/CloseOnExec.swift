#if canImport(Glibc)
import Glibc
#endif

// Descriptors that are close-on-exec from the moment they exist. Setting
// FD_CLOEXEC afterwards leaves a window in which a hook spawned by another
// thread inherits them (as root, with the provider's socket or a pipe).
// Glibc's module does not import these two GNU functions.

@_silgen_name("pipe2") private func c_pipe2(_ fds: UnsafeMutablePointer<Int32>, _ flags: Int32) -> Int32
@_silgen_name("accept4")
private func c_accept4(_ fd: Int32, _ address: UnsafeMutableRawPointer?, _ length: UnsafeMutableRawPointer?,
                       _ flags: Int32) -> Int32

/// pipe2(O_CLOEXEC [| O_NONBLOCK]): (read end, write end), nil on failure (errno set).
func closeOnExecPipe(nonBlocking: Bool = false) -> (read: Int32, write: Int32)? {
    var fds: [Int32] = [-1, -1]
    guard c_pipe2(&fds, O_CLOEXEC | (nonBlocking ? O_NONBLOCK : 0)) == 0 else { return nil }
    return (fds[0], fds[1])
}

/// accept4(SOCK_CLOEXEC | SOCK_NONBLOCK): the connection, or -1 (errno set).
func acceptCloseOnExec(_ listenFD: Int32) -> Int32 {
    c_accept4(listenFD, nil, nil, Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue))
}

/// Marks every descriptor above 2 that this process inherited close-on-exec
/// (call first, while single-threaded). sysgenidd uses none of them, and
/// under a parent that leaks some (a shell, a test runner; systemd does
/// not) they would otherwise reach every hook.
func markInheritedDescriptorsCloseOnExec() {
    guard let names = try? directoryEntries("/proc/self/fd") else { return }
    for fd in names.compactMap({ Int32($0) }) where fd > 2 {
        let flags = fcntl(fd, F_GETFD)
        if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
    }
}
