#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import SysGenID
import VMGenID

/// Generation hooks: the executables in a directory (default
/// `/etc/sysgenid/hooks.d`) run once per new generation, one after the
/// other in name order, each with a time limit. Together they are one
/// tracked watcher of the active provider that acknowledges only after the
/// last hook ended, so the host's `wait-ready` (and anyone's
/// `SYSGENID_WAIT_WATCHERS`) waits for them.
///
/// Names follow run-parts(8): only `[A-Za-z0-9_-]+`, so that `.dpkg-old`,
/// `README` editors' backups (`~`) and the like never run. A hook gets
/// `SYSGENID_GENERATION` (the counter) and `SYSGENID_VMGENID` (the value,
/// RFC-4122 text, empty if unreadable) in its environment, standard input
/// from /dev/null, and sysgenidd's standard output and error (the journal
/// under systemd). Each runs in a process group of its own: at its time
/// limit the whole group gets SIGTERM, then SIGKILL a second later.
final class GenerationHooks: @unchecked Sendable {
    static let defaultDirectory = "/etc/sysgenid/hooks.d"
    static let defaultTimeoutSeconds = 30
    static let killGraceMilliseconds: Int64 = 1000

    let directory: String
    let timeoutSeconds: Int
    /// Rounds finished (every hook ended) and the generation of the last one.
    let rounds = Atomic<Int>(0)
    let lastGeneration = Atomic<Int64>(-1)

    init(directory: String, timeoutSeconds: Int) {
        self.directory = directory
        self.timeoutSeconds = timeoutSeconds
    }

    /// The hooks that would run now, in order. A directory or a hook that
    /// root alone does not control (`HookTrust`) is left out, with one line
    /// on standard error saying why. `runRound` checks each hook again just
    /// before it starts it.
    func hooks() -> [String] {
        if let problem = HookTrust.problem(directory, directory: true) {
            log("generation hooks: none run: \(directory): \(problem) (the directory, and every directory above it, "
                + "must be root's, writable only by root)")
            return []
        }
        guard let names = try? directoryEntries(directory) else { return [] }
        return names.filter(GenerationHooks.isHookName).sorted { Array($0.utf8).lexicographicallyPrecedes($1.utf8) }
            .map { "\(directory)/\($0)" }
            .filter { path in
                var info = stat()
                guard stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG && access(path, X_OK) == 0 else {
                    return false
                }
                return trusted(path) != nil
            }
    }

    /// What to exec for the hook at `path` (symbolic links resolved, every
    /// step root's: `HookTrust`), or nil with one line saying why not.
    private func trusted(_ path: String) -> String? {
        switch HookTrust.resolve(path, directory: false) {
        case .trusted(let resolved): return resolved
        case .untrusted(let problem):
            log("generation hooks: not running \(path): \(problem) (a hook must be root's, writable only by root)")
            return nil
        }
    }

    static func isHookName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
                || byte == 0x5f || byte == 0x2d
        }
    }

    /// Becomes a tracked watcher of `provider` and runs the hooks for every
    /// generation after the current one, on a thread of its own. The value
    /// comes from `currentValue` when the round starts.
    func start(provider: SysGenIDProvider, currentValue: @escaping @Sendable () -> GenerationID?)
        throws(SysGenIDError) {
        let genid = try SysGenID(provider: provider)
        // Tracked from now on; the generation at start is acknowledged at open.
        try genid.setTracking(true)
        log("generation hooks: \(directory), \(hooks().count) hook(s) now, \(timeoutSeconds) s limit each")
        PosixThread.detach { [self] in
            while true {
                do {
                    guard let generation = try genid.next() else { continue }
                    runRound(generation: generation, value: currentValue())
                    // EINVAL: a newer generation came meanwhile; the next read returns it.
                    try? genid.acknowledge(generation)
                } catch {
                    log("generation hooks: \(error)")
                    sleepMilliseconds(1000)
                }
            }
        }
    }

    func runRound(generation: UInt32, value: GenerationID?) {
        let hooks = hooks()
        let environment = ["SYSGENID_GENERATION=\(generation)", "SYSGENID_VMGENID=\(value.map { "\($0)" } ?? "")"]
        for hook in hooks {
            // Again now: an earlier hook of this round, or minutes, may have
            // changed what the path leads to. The resolved file is what runs.
            guard let executable = trusted(hook) else { continue }
            let start = monotonicMilliseconds()
            let outcome = run(executable, name: hook, environment: environment)
            log("generation hooks: \(hook) for generation \(generation): \(outcome) after \(monotonicMilliseconds() - start) ms")
        }
        lastGeneration.store(Int64(generation), ordering: .relaxed)
        rounds.add(1, ordering: .relaxed)
    }

    /// Runs one hook to its end or its time limit; how it ended, in words.
    /// `path` is what is exec'd (no symbolic link in it), `name` its argv[0].
    private func run(_ path: String, name: String, environment: [String]) -> String {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)

        var inherited: [String] = []
        var entry = environ
        while let pointer = entry.pointee {
            let variable = String(cString: pointer)
            if !variable.hasPrefix("SYSGENID_") { inherited.append(variable) }
            entry += 1
        }
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(name), nil]
        let envp: [UnsafeMutablePointer<CChar>?] = (inherited + environment).map { strdup($0) } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard spawned == 0 else { return "not started (\(String(cString: strerror(spawned))))" }

        let deadline = monotonicMilliseconds() + Int64(timeoutSeconds) * 1000
        var signalled: Int32 = 0
        while true {
            var status: Int32 = 0
            let waited = waitpid(pid, &status, WNOHANG)
            if waited == pid {
                if signalled != 0 { return "timed out (limit \(timeoutSeconds) s), ended by signal \(signalled)" }
                return status & 0x7f == 0 ? "exit status \((status >> 8) & 0xff)" : "killed by signal \(status & 0x7f)"
            }
            if waited < 0 && errno != EINTR { return "lost (\(String(cString: strerror(errno))))" }
            let now = monotonicMilliseconds()
            if signalled == 0 && now >= deadline {
                signalled = SIGTERM
                kill(-pid, SIGTERM)
            } else if signalled == SIGTERM && now >= deadline + GenerationHooks.killGraceMilliseconds {
                signalled = SIGKILL
                kill(-pid, SIGKILL)
            }
            sleepMilliseconds(10)
        }
    }
}
