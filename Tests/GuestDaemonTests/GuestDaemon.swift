import Foundation
import Testing

/// The real `sysgenidd` (its userspace provider, and hooks when asked) in a
/// scratch directory of this machine, with the real `sysgenidctl` beside it
/// and `provider-client` (provider-client.c) for what a hostile local user
/// does. The binaries are the ones built next to the test bundle
/// (`swift build` builds them), or in `GENID_GUEST_BIN`. Needs root: the
/// tests create files owned by other uids and run clients as uid 65534.
final class GuestDaemon {
    static let nobody = "65534"
    static let isRoot = getuid() == 0

    static var binaries: String {
        if let directory = ProcessInfo.processInfo.environment["GENID_GUEST_BIN"] { return directory }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        return (executable as NSString).deletingLastPathComponent
    }

    let directory: String
    let socket: String
    let page: String
    let hooks: String
    let errorsPath: String
    private let process = Process()

    /// Starts `sysgenidd --provider` with `arguments`, running the hooks in
    /// `hooks` (written by `prepare`, before the start) if `runHooks`, and
    /// waits for its socket.
    init(runHooks: Bool = false, arguments: [String] = [], prepare: (GuestDaemon) throws -> Void = { _ in }) async throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("genid-guestd-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        // 0755 down to here: uid 65534 runs provider-client from it.
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        socket = "\(directory)/sysgenid.sock"
        page = "\(directory)/generation"
        hooks = "\(directory)/hooks.d"
        errorsPath = "\(directory)/sysgenidd.stderr"
        try FileManager.default.createDirectory(atPath: hooks, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o755])
        try prepare(self)
        _ = FileManager.default.createFile(atPath: errorsPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: "\(GuestDaemon.binaries)/sysgenidd")
        process.arguments = ["--provider", "--socket", socket, "--page", page, "--no-agent"]
            + (runHooks ? ["--hooks", hooks, "--hook-timeout", "10"] : ["--no-hooks"]) + arguments
        process.standardError = FileHandle(forWritingAtPath: errorsPath)
        try process.run()
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: socket) {
            try await Task.sleep(for: .milliseconds(50))
        }
        try #require(FileManager.default.fileExists(atPath: socket), "sysgenidd did not start: \(errors)")
    }

    deinit {
        // SIGKILL: a child of Foundation's Process may start with SIGTERM blocked.
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }

    var pid: Int32 { process.processIdentifier }

    /// What sysgenidd wrote on standard error so far.
    var errors: String { (try? String(contentsOfFile: errorsPath, encoding: .utf8)) ?? "" }

    /// The counter, from the page file's first four bytes.
    var counter: UInt32 {
        guard let data = FileManager.default.contents(atPath: page), data.count >= 4 else { return .max }
        return data.prefix(4).withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
    }

    /// The daemon's threads now.
    var threads: Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task").count) ?? 0 }

    /// `sysgenidctl --provider userspace COMMAND ... --socket --page`.
    func controlCommand(_ command: [String]) -> [String] {
        ["\(GuestDaemon.binaries)/sysgenidctl", "--provider", "userspace"] + command + ["--socket", socket, "--page", page]
    }

    /// Runs `controlCommand(command)` as root.
    func control(_ command: [String]) throws -> Command.Result { try Command.run(controlCommand(command)) }

    /// A new generation (TRIGGER as root), then waits until the hooks, the
    /// tracked watcher, have acknowledged it.
    func newGeneration() throws {
        let trigger = try control(["trigger"])
        try #require(trigger.status == 0, "\(trigger.errors)")
        let wait = try control(["wait-watchers", "--timeout", "30000"])
        try #require(wait.status == 0, "\(wait.errors)")
    }

    /// Writes an executable shell hook `name` into `hooks`.
    func hook(_ name: String, _ body: String, mode: Int = 0o755) throws {
        let path = "\(hooks)/\(name)"
        try "#!/bin/sh\n\(body)\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(chmod(path, mode_t(mode)) == 0)
    }

    /// provider-client (provider-client.c), compiled into the scratch directory once.
    func client() throws -> String {
        let binary = "\(directory)/provider-client"
        if !FileManager.default.fileExists(atPath: binary) {
            let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("provider-client.c").path
            let built = try Command.run(["/usr/bin/cc", "-O2", "-Wall", "-o", binary, source])
            try #require(built.status == 0, "cc: \(built.errors)")
        }
        return binary
    }

    /// `command` as uid and gid `id`, without supplementary groups.
    static func asUser(_ id: String, _ command: [String]) -> [String] {
        ["/usr/bin/setpriv", "--reuid=\(id)", "--regid=\(id)", "--clear-groups", "--"] + command
    }
}

/// A child process run to its end, its output collected.
enum Command {
    struct Result {
        let status: Int32
        let output: String
        let errors: String
    }

    static func run(_ arguments: [String]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, output: String(decoding: out, as: UTF8.self),
                      errors: String(decoding: err, as: UTF8.self))
    }
}

/// A child that keeps running (holding what it opened) until `finish()`
/// closes its standard input; its standard output is read once it closed it.
final class HeldCommand {
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()

    init(_ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.standardInput = input
        process.standardOutput = output
        try process.run()
    }

    /// Standard output up to the child's close of it, as lines.
    func lines() -> [String] {
        String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .split(separator: "\n").map(String.init)
    }

    func finish() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    deinit { if process.isRunning { finish() } }
}
