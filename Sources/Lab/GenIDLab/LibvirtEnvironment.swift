import Foundation
import Libvirt

/// A system libvirtd (`qemu:///system`) the lab can run its guests under,
/// configured by the lab itself.
///
/// `ensure()` works on a host without systemd (CI containers) as on one
/// with it: it makes `/etc/libvirt/qemu.conf` hold the four settings the lab
/// needs (`requiredQEMUSettings`, an idempotent edit that keeps everything
/// else and a one-time backup next to the file), starts `virtlogd -d` and
/// `libvirtd -d` if they do not run (restarting a running libvirtd when the
/// configuration had to change), and waits until `qemu:///system` accepts a
/// connection. Several lab processes may call it at once: a lock file
/// serializes them.
///
/// `stop()` stops only what this value started; a daemon that was already
/// running (even one it restarted) keeps running.
public final class LibvirtEnvironment: Sendable {
    /// `qemu.conf` settings the lab needs: QEMU runs as root, with no
    /// SELinux/AppArmor driver and no cgroups (containers have neither).
    public static let requiredQEMUSettings: [(key: String, value: String)] = [
        ("security_driver", "\"none\""),
        ("cgroup_controllers", "[ ]"),
        ("user", "\"root\""),
        ("group", "\"root\""),
    ]

    public struct Options: Sendable {
        public var uri = "qemu:///system"
        public var qemuConfPath = "/etc/libvirt/qemu.conf"
        public var libvirtdPath = "/usr/sbin/libvirtd"
        public var virtlogdPath = "/usr/sbin/virtlogd"
        public var libvirtdPidFile = "/run/libvirtd.pid"
        public var virtlogdPidFile = "/run/virtlogd.pid"
        /// libvirtd's own log (warnings and errors) when the lab starts it;
        /// its tail goes into errors.
        public var libvirtdLogPath = "/var/log/libvirt/genid-lab-libvirtd.log"
        /// Serializes `ensure()` across processes.
        public var lockPath = "/run/genid-lab-libvirtd.lock"
        /// How long libvirtd may take to accept a connection.
        public var timeout: Duration = .seconds(60)

        public init() {}
    }

    public let options: Options
    public var uri: String { options.uri }
    /// What `ensure()` changed in qemu.conf (empty when it was already right).
    public let configurationChanges: [LibvirtConfigurationChange]
    /// Where the unchanged qemu.conf was saved, when `ensure()` changed it.
    public let configurationBackup: String?
    /// Daemons this value started (`stop()` stops these, and only these).
    public let startedVirtlogd: pid_t?
    public let startedLibvirtd: pid_t?
    /// A libvirtd that ran already and was restarted for a changed qemu.conf.
    public let restartedLibvirtd: Bool
    /// From the call to `ensure()` to the first accepted connection.
    public let readyAfter: Duration

    private init(options: Options, configurationChanges: [LibvirtConfigurationChange], configurationBackup: String?,
                 startedVirtlogd: pid_t?, startedLibvirtd: pid_t?, restartedLibvirtd: Bool, readyAfter: Duration) {
        self.options = options
        self.configurationChanges = configurationChanges
        self.configurationBackup = configurationBackup
        self.startedVirtlogd = startedVirtlogd
        self.startedLibvirtd = startedLibvirtd
        self.restartedLibvirtd = restartedLibvirtd
        self.readyAfter = readyAfter
    }

    /// Configures and starts what is missing, then waits for `qemu:///system`.
    public static func ensure(options: Options = Options(),
                              progress: @escaping @Sendable (String) -> Void = { _ in }) async throws
        -> LibvirtEnvironment {
        try await runBlocking { try ensureBlocking(options: options, progress: progress) }
    }

    /// A new connection to the environment's URI.
    public func connect() throws -> Connection {
        try Connection.open(options.uri)
    }

    /// Stops the daemons this value started (libvirtd first, then
    /// virtlogd): SIGTERM, SIGKILL after 15 s. Domains still running under
    /// it keep running (QEMU is not libvirtd's child in that sense); a later
    /// libvirtd picks them up again.
    public func stop(progress: @escaping @Sendable (String) -> Void = { _ in }) async {
        let options = self.options
        let (libvirtd, virtlogd) = (startedLibvirtd, startedVirtlogd)
        await runBlocking {
            if let libvirtd, LibvirtDaemon.isRunning(pid: libvirtd, name: "libvirtd") {
                progress("stopping libvirtd (pid \(libvirtd), started by the lab)")
                LibvirtDaemon.terminate(pid: libvirtd, name: "libvirtd")
                LibvirtDaemon.removeStalePidFile(options.libvirtdPidFile, pid: libvirtd)
            }
            if let virtlogd, LibvirtDaemon.isRunning(pid: virtlogd, name: "virtlogd") {
                progress("stopping virtlogd (pid \(virtlogd), started by the lab)")
                LibvirtDaemon.terminate(pid: virtlogd, name: "virtlogd")
                LibvirtDaemon.removeStalePidFile(options.virtlogdPidFile, pid: virtlogd)
            }
        }
    }

    /// Whether a libvirtd process runs (by its pid file, else by scanning /proc).
    public static func runningLibvirtd(options: Options = Options()) -> pid_t? {
        LibvirtDaemon.running(name: "libvirtd", pidFile: options.libvirtdPidFile)
    }

    // MARK: - The work

    private static func ensureBlocking(options: Options, progress: (String) -> Void) throws -> LibvirtEnvironment {
        let begin = ContinuousClock.now
        for (path, package) in [(options.libvirtdPath, "libvirt-daemon-system"),
                                (options.virtlogdPath, "libvirt-daemon-system")]
        where !FileManager.default.isExecutableFile(atPath: path) {
            throw LibvirtLabError.daemonMissing(path: path, package: package)
        }
        let lock = try LibvirtDaemon.lock(options.lockPath, timeout: options.timeout, progress: progress)
        defer { close(lock) }

        // 1. qemu.conf
        let edit = try LibvirtQEMUConf.ensureSettings(requiredQEMUSettings, in: options.qemuConfPath)
        for change in edit.changes { progress("\(options.qemuConfPath): \(change)") }

        // 2. virtlogd (libvirtd hands QEMU's stdout/stderr to it: stdio_handler = "logd")
        var startedVirtlogd: pid_t?
        if let pid = LibvirtDaemon.running(name: "virtlogd", pidFile: options.virtlogdPidFile) {
            progress("virtlogd runs (pid \(pid))")
        } else {
            progress("starting virtlogd")
            startedVirtlogd = try LibvirtDaemon.start(executable: options.virtlogdPath, name: "virtlogd",
                                                      pidFile: options.virtlogdPidFile, logPath: nil)
        }

        // 3. libvirtd, restarted if it read an older qemu.conf
        var startedLibvirtd: pid_t?
        var restarted = false
        if let pid = LibvirtDaemon.running(name: "libvirtd", pidFile: options.libvirtdPidFile) {
            if edit.changes.isEmpty {
                progress("libvirtd runs (pid \(pid))")
            } else {
                progress("restarting libvirtd (pid \(pid)) to read the changed \(options.qemuConfPath)")
                guard LibvirtDaemon.terminate(pid: pid, name: "libvirtd") else {
                    throw LibvirtLabError.daemonDidNotStop(name: "libvirtd", pid: pid)
                }
                _ = try LibvirtDaemon.start(executable: options.libvirtdPath, name: "libvirtd",
                                            pidFile: options.libvirtdPidFile, logPath: options.libvirtdLogPath)
                restarted = true
            }
        } else {
            progress("starting libvirtd")
            startedLibvirtd = try LibvirtDaemon.start(executable: options.libvirtdPath, name: "libvirtd",
                                                      pidFile: options.libvirtdPidFile, logPath: options.libvirtdLogPath)
        }

        // 4. wait for qemu:///system
        try waitForConnection(options: options, progress: progress)
        let readyAfter = ContinuousClock.now - begin
        progress("\(options.uri) accepts connections (after \(String(format: "%.1f", readyAfter.seconds)) s)")
        return LibvirtEnvironment(options: options, configurationChanges: edit.changes,
                                  configurationBackup: edit.backupPath, startedVirtlogd: startedVirtlogd,
                                  startedLibvirtd: startedLibvirtd, restartedLibvirtd: restarted,
                                  readyAfter: readyAfter)
    }

    private static func waitForConnection(options: Options, progress: (String) -> Void) throws {
        let deadline = ContinuousClock.now + options.timeout
        var lastError = "none"
        var reported = false
        while true {
            do {
                let connection = try Connection.open(options.uri)
                // The qemu driver initializes in the background: ask it something.
                _ = try connection.allDomains()
                connection.close()
                return
            } catch {
                lastError = "\(error)"
            }
            guard LibvirtDaemon.running(name: "libvirtd", pidFile: options.libvirtdPidFile) != nil else {
                throw LibvirtLabError.daemonExited(name: "libvirtd", lastError: lastError,
                                                   logTail: LibvirtDaemon.tail(of: options.libvirtdLogPath))
            }
            guard ContinuousClock.now < deadline else {
                throw LibvirtLabError.connectionTimeout(uri: options.uri, seconds: options.timeout.seconds,
                                                        lastError: lastError,
                                                        logTail: LibvirtDaemon.tail(of: options.libvirtdLogPath))
            }
            if !reported {
                progress("waiting for \(options.uri)")
                reported = true
            }
            usleep(100_000)
        }
    }
}

/// One line the lab changed in qemu.conf.
public struct LibvirtConfigurationChange: Sendable, Hashable, CustomStringConvertible {
    public let key: String
    /// The active setting before (its lines joined), nil when there was none.
    public let before: String?
    public let after: String

    public var description: String {
        if let before { return "set \(after) (was \(before))" }
        return "added \(after)"
    }
}

/// Errors of the lab's libvirt environment and domains.
public enum LibvirtLabError: Error, CustomStringConvertible, Sendable {
    case daemonMissing(path: String, package: String)
    case configurationUnreadable(path: String, message: String)
    case configurationUnwritable(path: String, message: String)
    case daemonFailedToStart(name: String, status: Int32, output: String, logTail: String)
    case daemonDidNotStop(name: String, pid: pid_t)
    case lockTimeout(path: String, holder: String, seconds: Double)
    case daemonExited(name: String, lastError: String, logTail: String)
    case connectionTimeout(uri: String, seconds: Double, lastError: String, logTail: String)
    case templateMissing(searched: [String])
    case templateInvalid(path: String, message: String)
    case domainNotRunning(name: String, consoleTail: String, qemuLogTail: String)
    case channelMissing(domain: String, target: String)

    public var description: String {
        switch self {
        case let .daemonMissing(path, package):
            return "\(path) is not installed; install the Debian package \(package) (or run 'sudo qemu/setup-host')"
        case let .configurationUnreadable(path, message):
            return "cannot read \(path): \(message) (is libvirt-daemon-system installed? run as root)"
        case let .configurationUnwritable(path, message):
            return "cannot write \(path): \(message); the lab configures libvirtd itself and must run as root"
        case let .daemonFailedToStart(name, status, output, logTail):
            return "\(name) -d failed with status \(status): \(output.suffix(2000))"
                + (logTail.isEmpty ? "" : "\n--- \(name) log (tail) ---\n\(logTail)")
        case let .daemonDidNotStop(name, pid):
            return "\(name) (pid \(pid)) did not stop; stop it by hand and try again"
        case let .lockTimeout(path, holder, seconds):
            return "another lab process (pid \(holder)) held \(path) for \(seconds) s while setting up libvirtd; "
                + "is it stuck?"
        case let .daemonExited(name, lastError, logTail):
            return "\(name) exited before it accepted a connection (last error: \(lastError))"
                + (logTail.isEmpty ? "" : "\n--- \(name) log (tail) ---\n\(logTail)")
        case let .connectionTimeout(uri, seconds, lastError, logTail):
            return "\(uri) did not accept a connection within \(seconds) s (last error: \(lastError))"
                + (logTail.isEmpty ? "" : "\n--- libvirtd log (tail) ---\n\(logTail)")
        case let .templateMissing(searched):
            return "the domain template qemu/libvirt-domain.xml was not found (searched \(searched.joined(separator: ", "))); "
                + "run from the repository or set GENID_LAB_DOMAIN_TEMPLATE"
        case let .templateInvalid(path, message):
            return "domain template \(path): \(message)"
        case let .domainNotRunning(name, consoleTail, qemuLogTail):
            return "domain \(name) is not running (QEMU exited before the guest was ready)."
                + "\n--- libvirt's QEMU log (tail) ---\n\(qemuLogTail)\n--- guest console (tail) ---\n\(consoleTail)"
        case let .channelMissing(domain, target):
            return "the live XML of domain \(domain) has no socket path for channel \(target)"
        }
    }
}

/// Idempotent edit of libvirt's qemu.conf (`key = value` lines, `#` comments,
/// values that may span lines inside `[ ]`).
enum LibvirtQEMUConf {
    static let marker = "# genid-lab"

    /// `text` with every `key` set to `value`: an active line with another
    /// value is commented out and followed by the new one; a missing key is
    /// appended. Returns the changes (none when everything was set already).
    static func applying(_ settings: [(key: String, value: String)], to text: String)
        -> (text: String, changes: [LibvirtConfigurationChange]) {
        var lines = text.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        var changes: [LibvirtConfigurationChange] = []
        var appended: [String] = []
        for (key, value) in settings {
            let entries = activeEntries(of: key, in: lines)
            let wanted = "\(key) = \(value)"
            if entries.count == 1, normalized(entries[0].value) == normalized(value) { continue }
            guard let first = entries.first else {
                appended.append(wanted)
                changes.append(LibvirtConfigurationChange(key: key, before: nil, after: wanted))
                continue
            }
            let before = entries.map { lines[$0.range].joined(separator: " ") }.joined(separator: "; ")
            // Bottom-up, so earlier ranges keep their indices.
            for entry in entries.reversed() {
                var replacement = lines[entry.range].map { "\(marker) was: \($0)" }
                if entry.range == first.range { replacement.append(wanted) }
                lines.replaceSubrange(entry.range, with: replacement)
            }
            changes.append(LibvirtConfigurationChange(key: key, before: before, after: wanted))
        }
        if !appended.isEmpty {
            lines.append("")
            lines.append("\(marker): what the lab needs to run QEMU under libvirtd as root (Documentation/lab.md)")
            lines += appended
        }
        return (lines.joined(separator: "\n") + "\n", changes)
    }

    /// Applies `settings` to the file at `path`; writes (atomically, same
    /// mode) only when something changed, after saving the original once as
    /// `<path>.genid-lab.orig`.
    static func ensureSettings(_ settings: [(key: String, value: String)], in path: String) throws
        -> (changes: [LibvirtConfigurationChange], backupPath: String?) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw LibvirtLabError.configurationUnreadable(path: path, message: "\(error.localizedDescription)")
        }
        let (edited, changes) = applying(settings, to: text)
        guard !changes.isEmpty else { return ([], nil) }
        let backup = "\(path).genid-lab.orig"
        let attributes = (try? FileManager.default.attributesOfItem(atPath: path)) ?? [:]
        let mode = (attributes[.posixPermissions] as? NSNumber)?.uint16Value ?? 0o600
        do {
            if !FileManager.default.fileExists(atPath: backup) {
                try FileManager.default.copyItem(atPath: path, toPath: backup)
            }
            let temporary = "\(path).genid-lab.\(getpid()).tmp"
            try edited.write(toFile: temporary, atomically: false, encoding: .utf8)
            chmod(temporary, mode_t(mode))
            guard rename(temporary, path) == 0 else {
                let message = String(cString: strerror(errno))
                unlink(temporary)
                throw LibvirtLabError.configurationUnwritable(path: path, message: message)
            }
        } catch let error as LibvirtLabError {
            throw error
        } catch {
            throw LibvirtLabError.configurationUnwritable(path: path, message: error.localizedDescription)
        }
        return (changes, backup)
    }

    struct Entry {
        let range: Range<Int>
        let value: String
    }

    /// Uncommented `key = …` settings, with continuation lines of an open `[`.
    static func activeEntries(of key: String, in lines: [String]) -> [Entry] {
        var entries: [Entry] = []
        var index = 0
        while index < lines.count {
            let line = lines[index]
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix(key),
                  trimmed.dropFirst(key.count).trimmingCharacters(in: .whitespaces).hasPrefix("="),
                  let equals = line.firstIndex(of: "=")
            else {
                index += 1
                continue
            }
            var value = String(line[line.index(after: equals)...])
            var end = index + 1
            while value.filter({ $0 == "[" }).count > value.filter({ $0 == "]" }).count, end < lines.count {
                value += "\n" + lines[end]
                end += 1
            }
            entries.append(Entry(range: index..<end, value: value))
            index = end
        }
        return entries
    }

    /// Without whitespace and end-of-line comments, one quote style.
    static func normalized(_ value: String) -> String {
        value.components(separatedBy: "\n")
            .map { line in
                // A comment after the value (no '#' occurs in the values the lab sets).
                line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            }
            .joined()
            .filter { !$0.isWhitespace }
            .replacingOccurrences(of: "'", with: "\"")
    }
}

/// Finding, starting and stopping virtlogd/libvirtd by pid file and /proc.
enum LibvirtDaemon {
    /// The pid of a running `name`: the pid file's, if it is that program, else
    /// the first process whose /proc/<pid>/comm is `name`.
    static func running(name: String, pidFile: String) -> pid_t? {
        if let pid = RunDirectory.readPid(pidFile), isRunning(pid: pid, name: name) { return pid }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(pid_t.init).sorted().first { isRunning(pid: $0, name: name) }
    }

    static func isRunning(pid: pid_t, name: String) -> Bool {
        guard pid > 0, let comm = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8) else { return false }
        guard comm.trimmingCharacters(in: .whitespacesAndNewlines) == name else { return false }
        // A zombie still has a comm.
        let status = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        if let close = status.lastIndex(of: ")") {
            let state = status[status.index(after: close)...].trimmingCharacters(in: .whitespaces).prefix(1)
            if state == "Z" || state == "X" { return false }
        }
        return true
    }

    /// Runs `<executable> -d` (it daemonizes and returns once it runs) and
    /// returns the daemon's pid from its pid file.
    static func start(executable: String, name: String, pidFile: String, logPath: String?) throws -> pid_t {
        var environment = ProcessInfo.processInfo.environment
        if let logPath {
            try? FileManager.default.createDirectory(atPath: (logPath as NSString).deletingLastPathComponent,
                                                     withIntermediateDirectories: true)
            // Warnings and errors to a file we can quote (no syslog in containers).
            environment["LIBVIRT_LOG_OUTPUTS"] = "3:file:\(logPath)"
        }
        // Output to a file, not a pipe: a daemon keeping the pipe open would
        // block a reader waiting for its end.
        let outputPath = NSTemporaryDirectory() + "genid-lab-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).out"
        defer { unlink(outputPath) }
        let status: Int32
        do {
            status = try spawnAndWait([executable, "-d"], environment: environment, outputPath: outputPath)
        } catch {
            throw LibvirtLabError.daemonFailedToStart(name: name, status: -1, output: "\(error)", logTail: "")
        }
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        guard status == 0 else {
            throw LibvirtLabError.daemonFailedToStart(name: name, status: status, output: text,
                                                      logTail: logPath.map { tail(of: $0) } ?? "")
        }
        // The pid file is written before the parent returns; allow a moment anyway.
        for _ in 0..<50 {
            if let pid = running(name: name, pidFile: pidFile) { return pid }
            usleep(100_000)
        }
        throw LibvirtLabError.daemonExited(name: name, lastError: "no \(name) process after '\(name) -d' returned: \(text)",
                                           logTail: logPath.map { tail(of: $0) } ?? "")
    }

    /// posix_spawn + waitpid on this very child. (Foundation's `Process`
    /// learns of a child's exit from SIGCHLD, which a thread that does not
    /// block it can swallow; `waitUntilExit` then never returns, seen here
    /// with `virtlogd -d`.) The child gets default signal handling and an
    /// empty signal mask, so a daemon started from a lab that ignores
    /// SIGINT/SIGTERM (LabCleanup) still stops on SIGTERM.
    static func spawnAndWait(_ argv: [String], environment: [String: String], outputPath: String) throws -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD, SIGQUIT] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let cArguments = argv.map { strdup($0) } + [nil]
        let cEnvironment = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in cArguments { free(pointer) }
            for pointer in cEnvironment { free(pointer) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, argv[0], &actions, &attributes, cArguments, cEnvironment)
        guard result == 0 else {
            throw LabError.io(path: argv[0], message: "posix_spawn: \(String(cString: strerror(result)))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno == EINTR { continue }
            // ECHILD: someone reaped it (SIGCHLD ignored); judge by the daemon instead.
            return errno == ECHILD ? 0 : -1
        }
        // WIFEXITED / WEXITSTATUS, which Swift does not import.
        if status & 0x7f == 0 { return (status >> 8) & 0xff }
        return 128 + (status & 0x7f)
    }

    /// An exclusive flock on `path` (its holder's pid written into it),
    /// waiting at most `timeout`; returns the descriptor to close.
    static func lock(_ path: String, timeout: Duration, progress: (String) -> Void) throws -> Int32 {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw LibvirtLabError.configurationUnwritable(path: path, message: String(cString: strerror(errno)))
        }
        let deadline = ContinuousClock.now + timeout
        var reported = false
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            guard errno == EWOULDBLOCK || errno == EINTR, ContinuousClock.now < deadline else {
                close(fd)
                throw LibvirtLabError.lockTimeout(path: path, holder: holder, seconds: timeout.seconds)
            }
            if !reported {
                progress("waiting for another lab process (pid \(holder)) setting up libvirtd")
                reported = true
            }
            usleep(100_000)
        }
        ftruncate(fd, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { pwrite(fd, $0, strlen($0), 0) }
        return fd
    }

    /// SIGTERM, then SIGKILL after `grace`; true once the process is gone.
    @discardableResult
    static func terminate(pid: pid_t, name: String, grace: Duration = .seconds(15)) -> Bool {
        guard isRunning(pid: pid, name: name) else { return true }
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + grace
        while ContinuousClock.now < deadline {
            if !isRunning(pid: pid, name: name) { return true }
            usleep(50_000)
        }
        kill(pid, SIGKILL)
        for _ in 0..<100 {
            if !isRunning(pid: pid, name: name) { return true }
            usleep(50_000)
        }
        return false
    }

    static func removeStalePidFile(_ path: String, pid: pid_t) {
        if RunDirectory.readPid(path) == pid { unlink(path) }
    }

    static func tail(of path: String, lines: Int = 20) -> String {
        guard let data = FileManager.default.contents(atPath: path) else { return "" }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").suffix(lines).joined(separator: "\n")
    }
}

/// Runs blocking work (libvirt calls, waiting for processes) on a dispatch
/// thread instead of Swift's cooperative pool.
@discardableResult
func runBlocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
    }
}

@discardableResult
func runBlocking<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(returning: work()) }
    }
}
