#if canImport(Glibc)
import Glibc
#endif
import AgentProtocol
import SysGenID

/// What the agent knows about sysgenid in this guest: the in-process
/// userspace provider (if this process runs it) or the kernel module's
/// device, and the kernel-log watcher.
final class GuestContext: @unchecked Sendable {
    let provider: Provider?
    let watcher: HardwareWatcher
    /// The blocking, poll and mmap readers (started by `startReaders`).
    let readers = GenerationReaders()
    /// The generation hooks, when they run (set once at start).
    var hooks: GenerationHooks?
    static let sysfsGeneration = "/sys/class/misc/sysgenid/generation"

    init(provider: Provider?, watcher: HardwareWatcher) {
        self.provider = provider
        self.watcher = watcher
    }

    /// The active provider: this process's, else the module's device.
    var active: SysGenIDProvider? {
        if let provider { return .userspace(socketPath: provider.socketPath, pagePath: provider.pagePath) }
        if access(SysGenIDProvider.defaultDevicePath, F_OK) == 0 { return .device }
        return nil
    }

    /// Starts the three readers if a provider is there; false if not.
    @discardableResult
    func startReaders() -> Bool {
        guard let active else { return false }
        readers.start(provider: active)
        return true
    }

    var providerName: String { active?.kind?.reportName ?? "none" }

    var counter: UInt32? {
        if let provider { return provider.counter }
        guard active != nil else { return nil }
        return GuestContext.moduleCounter()
    }

    /// The kernel module's counter (sysfs), nil without the module.
    static func moduleCounter() -> UInt32? {
        guard let bytes = try? readWholeFile(sysfsGeneration) else { return nil }
        return UInt32(String(decoding: bytes, as: UTF8.self).trimmingNewline())
    }

    func statusFields() -> [AgentField] {
        var fields = [AgentField(AgentStatusField.sysgenidProvider, providerName)]
        if let counter { fields.append(AgentField(AgentStatusField.sysgenidCounter, String(counter))) }
        fields.append(AgentField(AgentStatusField.kernelVMForkCount, String(watcher.vmforkCount.load(ordering: .relaxed))))
        if let hooks {
            fields.append(AgentField(AgentStatusField.hookRounds, String(hooks.rounds.load(ordering: .relaxed))))
            let generation = hooks.lastGeneration.load(ordering: .relaxed)
            if generation >= 0 { fields.append(AgentField(AgentStatusField.hookGeneration, String(generation))) }
        }
        return fields + readers.statusFields()
    }

    func watchers() -> AgentResponse.Outcome {
        var fields = [AgentField(AgentStatusField.sysgenidProvider, providerName)]
        if let counter { fields.append(AgentField(AgentStatusField.sysgenidCounter, String(counter))) }
        if let provider {
            let w = provider.watchers()
            fields += [AgentField(AgentSysGenIDField.watchersKnown, "1"),
                       AgentField(AgentSysGenIDField.tracked, String(w.tracked)),
                       AgentField(AgentSysGenIDField.outdated, String(w.outdated)),
                       AgentField(AgentSysGenIDField.clients, String(w.clients))]
        } else {
            // The module keeps its counts to itself.
            fields.append(AgentField(AgentSysGenIDField.watchersKnown, "0"))
        }
        return .ok(fields)
    }

    func waitWatchers(timeoutMilliseconds: UInt32) -> AgentResponse.Outcome {
        guard let active else { return .error("ENODEV no sysgenid provider in this guest") }
        let start = monotonicMilliseconds()
        do {
            let genid = try SysGenID(provider: active)
            try genid.waitForWatchersAcknowledgingOwnHandle(
                until: timeoutMilliseconds == 0 ? nil : start + Int64(timeoutMilliseconds))
            return .ok([AgentField(AgentSysGenIDField.elapsedMilliseconds, String(monotonicMilliseconds() - start)),
                        AgentField(AgentStatusField.sysgenidCounter, String(genid.current))])
        } catch {
            return .error("\(error.errno.name) \(error) after \(monotonicMilliseconds() - start) ms")
        }
    }

    /// Runs `sysgenidctl conformance` (next to this executable) and passes
    /// its per-check lines back. No other command can be run this way.
    func conformance(kind: SysGenIDProviderKind, fresh: Bool) -> AgentResponse.Outcome {
        let control = GuestContext.siblingExecutable("sysgenidctl")
        var arguments = [control, "conformance", "--provider", kind.rawValue, "--format", "lines"]
        if fresh { arguments.append("--fresh") }
        let start = monotonicMilliseconds()
        guard let (status, output) = runCapturingOutput(arguments, timeoutSeconds: 600) else {
            return .error("cannot run \(control)")
        }
        var total = 0, passed = 0
        for line in output.split(separator: "\n") {
            if line.hasPrefix("PASS\t") { passed += 1; total += 1 } else if line.hasPrefix("FAIL\t") { total += 1 }
        }
        var results = output
        // Keep the reply under the line limit: drop details of passed checks if needed.
        if results.utf8.count * 2 > agentMaximumLineLength {
            results = output.split(separator: "\n").map { line -> String in
                guard line.hasPrefix("PASS\t") else { return String(line.prefix(400)) }
                return line.split(separator: "\t", omittingEmptySubsequences: false).prefix(3).joined(separator: "\t")
            }.joined(separator: "\n")
        }
        return .ok([AgentField(AgentSysGenIDField.provider, kind.reportName),
                    AgentField("exit_status", String(status)),
                    AgentField(AgentSysGenIDField.total, String(total)),
                    AgentField(AgentSysGenIDField.passed, String(passed)),
                    AgentField(AgentSysGenIDField.failed, String(total - passed)),
                    AgentField(AgentSysGenIDField.elapsedMilliseconds, String(monotonicMilliseconds() - start)),
                    AgentField(AgentSysGenIDField.results, results)])
    }

    static func siblingExecutable(_ name: String) -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return "/usr/bin/\(name)" }
        let path = String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let slash = path.lastIndex(of: "/") else { return "/usr/bin/\(name)" }
        return String(path[...slash]) + name
    }
}

/// posix_spawn with stdout (and stderr) into a pipe; the exit status and
/// the output, killing the child after `timeoutSeconds`.
func runCapturingOutput(_ arguments: [String], timeoutSeconds: Int) -> (Int32, String)? {
    // Close-on-exec: only the dup2 onto 1 and 2 reaches this child, and
    // nothing reaches a hook spawned by another thread meanwhile.
    guard let pipe = closeOnExecPipe() else { return nil }
    let fds = [pipe.read, pipe.write]
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
    posix_spawn_file_actions_addclose(&actions, fds[0])
    posix_spawn_file_actions_addclose(&actions, fds[1])
    var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    var pid = pid_t()
    let spawned = posix_spawn(&pid, arguments[0], &actions, nil, &argv, environ)
    close(fds[1])
    guard spawned == 0 else {
        close(fds[0])
        return nil
    }
    var output: [UInt8] = []
    let deadline = monotonicMilliseconds() + Int64(timeoutSeconds) * 1000
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let left = deadline - monotonicMilliseconds()
        if left <= 0 {
            kill(pid, SIGKILL)
            output += Array("FAIL\tsuite\ttimed out\tkilled after \(timeoutSeconds) s\n".utf8)
            break
        }
        var descriptor = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
        if poll(&descriptor, 1, Int32(min(left, 1000))) <= 0 { continue }
        let count = chunk.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, $0.count) }
        if count < 0 && errno == EINTR { continue }
        if count <= 0 { break }
        output += chunk[..<count]
    }
    close(fds[0])
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let exitStatus = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return (exitStatus, String(decoding: output, as: UTF8.self))
}
