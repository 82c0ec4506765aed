#if canImport(Glibc)
import Glibc
#endif

extension ConformanceSuite {
    func testNode(_ main: any SysGenIDTransport) {
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

    func testRead(_ main: any SysGenIDTransport) {
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

    func testWrite(_ main: any SysGenIDTransport) {
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

    func testMapping(_ main: any SysGenIDTransport) {
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
}
