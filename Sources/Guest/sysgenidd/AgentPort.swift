#if canImport(Glibc)
import Glibc
#endif
import SysGenID

/// The guest end of the agent's virtio-serial port, found by its name in
/// /sys/class/virtio-ports (there is no udev in the lab guest to make the
/// /dev/virtio-ports/NAME link).
struct AgentPort {
    static let portsPath = "/sys/class/virtio-ports"

    let devicePath: String
    let fd: Int32

    /// Waits until the port appears (its driver may still be loading).
    static func open(named name: String) -> AgentPort {
        var announced = false
        while true {
            if let device = findDevice(named: name) {
                let fd = Glibc.open(device, O_RDWR | O_CLOEXEC | O_NONBLOCK)
                if fd >= 0 { return AgentPort(devicePath: device, fd: fd) }
                log("\(SystemCallError("open", device)); retrying")
            } else if !announced {
                log("waiting for virtio-serial port \(name)")
                announced = true
            }
            usleep(100_000)
        }
    }

    /// The ports of one virtio-serial device appear together, but each
    /// port's `name` file only once QEMU's name message for it arrived, a
    /// round trip later. Waits (at most `milliseconds`) until every port has
    /// its name, so that a port found missing afterwards really is.
    static func waitForNames(milliseconds: Int64 = 1000) {
        let deadline = monotonicMilliseconds() + milliseconds
        while monotonicMilliseconds() < deadline {
            let ports = (try? directoryEntries(portsPath)) ?? []
            if ports.allSatisfy({ access("\(portsPath)/\($0)/name", F_OK) == 0 }) { return }
            usleep(10_000)
        }
    }

    static func findDevice(named name: String) -> String? {
        guard let ports = try? directoryEntries(portsPath) else { return nil }
        for port in ports {
            guard let bytes = try? readWholeFile("\(portsPath)/\(port)/name") else { continue }
            let portName = String(decoding: bytes, as: UTF8.self).trimmingNewline()
            if portName == name { return "/dev/\(port)" }
        }
        return nil
    }

    /// Waits up to `timeoutMilliseconds` for input. The host end may be
    /// disconnected; then reads return 0 and the caller waits and retries.
    func readAvailable(timeoutMilliseconds: Int32) throws -> [UInt8] {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, timeoutMilliseconds)
        if ready < 0 && errno != EINTR { throw SystemCallError("poll", devicePath) }
        guard ready > 0 else { return [] }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count < 0 {
            if errno == EAGAIN || errno == EINTR { return [] }
            throw SystemCallError("read", devicePath)
        }
        if count == 0 { usleep(100_000) }  // host not connected
        return Array(buffer[0..<count])
    }

    func writeAll(_ text: String) throws {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN {
                    var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&descriptor, 1, 1000)
                    continue
                }
                throw SystemCallError("write", devicePath)
            }
            bytes = bytes.dropFirst(written)
        }
    }
}

extension String {
    func trimmingNewline() -> String {
        // Unicode scalars, not Characters: "\r\n" is one Character in Swift.
        var scalars = Substring(self).unicodeScalars
        while let last = scalars.last, last == "\n" || last == "\r" { scalars = scalars.dropLast() }
        return String(scalars)
    }
}
