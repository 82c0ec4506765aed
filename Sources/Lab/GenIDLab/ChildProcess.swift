import GuestAgent
import Foundation
import Synchronization

/// A child the lab starts and must not leak: QEMU, genidd.
///
/// It runs under `setpriv --pdeathsig KILL`, so the kernel kills it if the
/// lab dies, even by SIGKILL. The parent-death signal fires when the
/// *thread* that spawned the child exits, so the spawn happens on a thread
/// of our own that then waits for the child to exit and ends only after it:
/// not on a dispatch worker, which the runtime retires after a few idle seconds.
final class ChildProcess: Sendable {
    static let qemuExecutable = "qemu-system-x86_64"

    let pid: pid_t
    private let status: ExitStatus
    private let stderrPath: String

    /// Written once by the waiting thread, read by everyone else.
    private final class ExitStatus: Sendable {
        let value = Mutex<Int32?>(nil)
    }

    private init(pid: pid_t, status: ExitStatus, stderrPath: String) {
        self.pid = pid
        self.status = status
        self.stderrPath = stderrPath
    }

    static func spawnQEMU(arguments: [String], stderrPath: String) throws -> ChildProcess {
        guard let qemu = Subprocess.findExecutable(qemuExecutable) else {
            throw LabError.missingTool(name: qemuExecutable, package: "qemu-system-x86")
        }
        return try spawn(qemu, arguments: arguments, stderrPath: stderrPath)
    }

    /// Starts `executable` (a path) with stdin/stdout on /dev/null and stderr into `stderrPath`.
    static func spawn(_ executable: String, arguments: [String], stderrPath: String) throws -> ChildProcess {
        guard let setpriv = Subprocess.findExecutable("setpriv") else {
            throw LabError.missingTool(name: "setpriv", package: "util-linux")
        }
        let argv = [setpriv, "--pdeathsig", "KILL", "--", executable] + arguments
        let spawned = SpawnResult()
        let ready = DispatchSemaphore(value: 0)
        let exitStatus = ExitStatus()
        let thread = Thread {
            let result = spawnProcess(argv, stderrPath: stderrPath)
            spawned.value.withLock { $0 = result }
            ready.signal()
            guard case .success(let pid) = result else { return }
            let status = reap(pid)
            exitStatus.value.withLock { $0 = status }
        }
        thread.name = "genid-lab " + (executable as NSString).lastPathComponent
        thread.start()
        ready.wait()
        switch spawned.value.withLock({ $0 })! {
        case .success(let pid): return ChildProcess(pid: pid, status: exitStatus, stderrPath: stderrPath)
        case .failure(let error): throw error
        }
    }

    /// nil while the child runs, its exit status (128 + signal if killed) once it has exited.
    var exitStatus: Int32? {
        status.value.withLock { $0 }
    }

    private final class SpawnResult: Sendable {
        let value = Mutex<Result<pid_t, LabError>?>(nil)
    }

    /// Waits up to `grace` for the child to exit on its own, then kills it.
    func waitForExit(grace: Duration) {
        let deadline = ContinuousClock.now + grace
        while exitStatus == nil, ContinuousClock.now < deadline { usleep(20_000) }
        if exitStatus == nil { killAndWait() }
    }

    /// SIGKILL, then wait (bounded) until the process has been reaped.
    func killAndWait() {
        guard exitStatus == nil else { return }
        kill(pid, SIGKILL)
        let deadline = ContinuousClock.now + .seconds(5)
        while exitStatus == nil, ContinuousClock.now < deadline { usleep(10_000) }
    }

    func stderrTail(lines: Int = 20) -> String {
        guard let data = FileManager.default.contents(atPath: stderrPath) else { return "" }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").suffix(lines).joined(separator: "\n")
    }
}

/// posix_spawn with stdin and stdout on /dev/null and stderr to a file.
/// Signal dispositions and mask are reset: the lab ignores SIGINT/SIGTERM
/// itself (it handles them), and QEMU must not inherit that.
private func spawnProcess(_ argv: [String], stderrPath: String) -> Result<pid_t, LabError> {
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    var allSignals = sigset_t()
    sigfillset(&allSignals)
    posix_spawnattr_setsigmask(&attributes, &noSignals)
    posix_spawnattr_setsigdefault(&attributes, &allSignals)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)

    var cArguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    defer { cArguments.forEach { free($0) } }
    var pid: pid_t = 0
    let result = posix_spawn(&pid, argv[0], &actions, &attributes, &cArguments, environ)
    guard result == 0 else {
        return .failure(.io(path: argv[0], message: "cannot start: \(String(cString: strerror(result)))"))
    }
    return .success(pid)
}

/// Blocks until `pid` exits; its exit status, or 128 + signal.
private func reap(_ pid: pid_t) -> Int32 {
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
        if errno != EINTR { return -1 }
    }
    let signal = status & 0x7f
    return signal == 0 ? (status >> 8) & 0xff : 128 + signal
}
