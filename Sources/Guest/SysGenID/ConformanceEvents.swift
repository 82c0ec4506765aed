#if canImport(Glibc)
import Glibc
#endif

extension ConformanceSuite {
    // MARK: change notifications

    func testEvents(_ main: any SysGenIDTransport) {
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
