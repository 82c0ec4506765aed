#if canImport(Glibc)
import Glibc
#endif

extension ConformanceSuite {
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

    func testPrivileges(_ main: any SysGenIDTransport) {
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
