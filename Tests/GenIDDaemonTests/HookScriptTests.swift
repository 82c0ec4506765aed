import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// qemu/hooks/genid, run as libvirt runs it (arguments, domain XML on stdin),
/// with GENIDCTL pointing at a fake genidctl that records its arguments: no
/// genidd, no libvirt.
@Suite struct HookScriptTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let hook = repositoryRoot.appendingPathComponent("qemu/hooks/genid").path

    @Test(arguments: ["started", "restore"])
    func notifiesGenIDDForARelevantOperation(op: String) throws {
        let run = try HookRun(fake: "exit 0", arguments: ["web1", op, "begin", "-"])
        defer { run.cleanUp() }
        let result = try run.wait()
        #expect(result.exitStatus == 0)
        #expect(result.readAllOfStdin)
        #expect(result.stdout.isEmpty, "libvirt reads stdout as domain XML for restore and migrate")
        let recorded = try #require(run.recordedArguments())
        #expect(recorded.first == "notify")
        #expect(Array(recorded.suffix(2)) == ["web1", "\(op)/begin"])
        #expect(!recorded.contains("--socket"))
    }

    @Test func passesTheSocketAndKeepsAnOddDomainNameOneArgument() throws {
        let run = try HookRun(fake: "exit 0", arguments: ["-web 1", "started", "begin", "-"],
                              environment: ["GENID_SOCKET": "/run/test/genidd.sock"])
        defer { run.cleanUp() }
        #expect(try run.wait().exitStatus == 0)
        let recorded = try #require(run.recordedArguments())
        #expect(recorded == ["notify", "--socket", "/run/test/genidd.sock", "--", "-web 1", "started/begin"])
    }

    @Test(arguments: [["prepare", "begin"], ["start", "begin"], ["stopped", "end"], ["release", "end"],
                      ["reconnect", "begin"], ["attach", "begin"]])
    func doesNothingForAnIrrelevantOperation(operation: [String]) throws {
        let run = try HookRun(fake: "exit 0", arguments: ["web1"] + operation + ["-"])
        defer { run.cleanUp() }
        let result = try run.wait()
        #expect(result.exitStatus == 0)
        #expect(result.readAllOfStdin)
        #expect(run.recordedArguments(within: 0.5) == nil, "genidctl must not run for \(operation)")
    }

    @Test func migrateBeginPrintsWhatGenIDCtlMakesOfTheIncomingXML() throws {
        // The fake answers as `migrate-xml` does with a changed definition.
        let run = try HookRun(fake: #"wc -c | tr -d ' ' | sed 's/^/<domain bytes="/; s/$/"\/>/'"#,
                              arguments: ["web1", "migrate", "begin", "-"])
        defer { run.cleanUp() }
        let result = try run.wait()
        #expect(result.exitStatus == 0)
        #expect(result.readAllOfStdin)
        #expect(run.recordedArguments() == ["libvirt", "migrate-xml"])
        #expect(result.stdout == "<domain bytes=\"\(HookRun.xmlLength)\"/>\n", "the whole XML reached genidctl")
    }

    @Test func restoreBeginPrintsTheRestoredXMLThenNotifies() throws {
        // The fake prints a changed XML for restore-xml (reading all of it) and nothing for notify.
        let run = try HookRun(fake: #"[ "$1" = libvirt ] && { cat > /dev/null; echo '<domain/>'; }; exit 0"#,
                              arguments: ["web1", "restore", "begin", "-"])
        defer { run.cleanUp() }
        let result = try run.wait()
        #expect(result.exitStatus == 0)
        #expect(result.readAllOfStdin)
        #expect(result.stdout == "<domain/>\n")
        #expect(run.recordedArguments()?.first == "notify", "genidd is told after the XML")
    }

    @Test func migrateBeginFailsTheMigrationWhenTheXMLCannotBeRead() throws {
        let run = try HookRun(fake: "cat > /dev/null; echo 'not well-formed' >&2; exit 1",
                              arguments: ["web1", "migrate", "begin", "-"])
        defer { run.cleanUp() }
        let result = try run.wait()
        #expect(result.exitStatus == 1, "libvirt must fail the migration rather than show an older value")
        #expect(result.stdout.isEmpty)
    }

    @Test func migrateBeginLeavesTheXMLUnchangedWithoutGenIDCtl() throws {
        let run = try HookRun(fake: "exit 0", arguments: ["web1", "migrate", "begin", "-"],
                              environment: ["GENIDCTL": "/nonexistent/genidctl", "PATH": "/usr/bin:/bin"])
        defer { run.cleanUp() }
        let result = try run.wait()
        #expect(result.exitStatus == 0)
        #expect(result.readAllOfStdin)
        #expect(result.stdout.isEmpty)
    }

    @Test func exitsZeroWhenGenIDCtlFails() throws {
        let run = try HookRun(fake: "echo 'genidctl: genidd is not running' >&2; exit 3",
                              arguments: ["web1", "started", "begin", "-"])
        defer { run.cleanUp() }
        let result = try run.wait()
        #expect(result.exitStatus == 0)
        #expect(result.seconds < 3)
        #expect(run.recordedArguments() != nil)
    }

    @Test func aHungGenIDCtlIsKilledWithinThreeSeconds() throws {
        let run = try HookRun(fake: "exec sleep 30", arguments: ["web1", "started", "begin", "-"])
        defer { run.cleanUp() }
        let result = try run.wait()
        #expect(result.exitStatus == 0)
        // The hook itself returns at once; this runner (unlike libvirt, which
        // closes every other descriptor for a hook) sees the exit only when the
        // background genidctl, which inherits its descriptors, is gone.
        #expect(result.seconds < 3, "took \(result.seconds) s")
        #expect(result.stdout.isEmpty)
        #expect(run.recordedArguments() != nil)
        // The hung genidctl is killed (2 s, then 1 s more), not left behind.
        #expect(run.fakePID() != nil)
        let deadline = Date().addingTimeInterval(5)
        while run.leftoverFakePID() != nil, Date() < deadline { usleep(50_000) }
        #expect(run.leftoverFakePID() == nil, "the hung fake genidctl still runs")
    }

    @Test func exitsZeroWhenGenIDCtlIsMissing() throws {
        let run = try HookRun(fake: "exit 0", arguments: ["web1", "started", "begin", "-"],
                              environment: ["GENIDCTL": "/nonexistent/genidctl", "PATH": "/usr/bin:/bin"])
        defer { run.cleanUp() }
        let result = try run.wait()
        #expect(result.exitStatus == 0)
        #expect(run.recordedArguments() == nil)
    }
}

/// One run of the hook in a private directory holding the fake genidctl.
private final class HookRun: @unchecked Sendable {
    struct Result {
        var exitStatus: Int32
        var seconds: Double
        var stdout: String
        /// The whole domain XML went into the hook's stdin (no EPIPE).
        var readAllOfStdin: Bool
    }

    let directory: URL
    let process = Process()
    private let finished = DispatchSemaphore(value: 0)
    private let stdinDone = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var stdinComplete = false
    private var started = Date()

    static let xml = Data(("<domain type='kvm'><name>web1</name>" + String(repeating: "<!-- padding -->", count: 16384)
                           + "</domain>\n").utf8)
    static var xmlLength: Int { xml.count }

    private static let ignoreSIGPIPE: Void = { signal(SIGPIPE, SIG_IGN) }()

    /// `fake`: the fake genidctl's shell code, run after it has recorded its
    /// arguments (one per line) and its pid.
    init(fake: String, arguments: [String], environment: [String: String] = [:]) throws {
        _ = HookRun.ignoreSIGPIPE
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("genid-hook-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let fakePath = directory.appendingPathComponent("genidctl").path
        let script = """
            #!/bin/sh
            dir=$(dirname "$0")
            echo $$ > "$dir/pid"
            printf '%s\\n' "$@" > "$dir/args.tmp" && mv "$dir/args.tmp" "$dir/args"
            \(fake)

            """
        try script.write(toFile: fakePath, atomically: true, encoding: .utf8)
        chmod(fakePath, 0o755)

        process.executableURL = URL(fileURLWithPath: HookScriptTests.hook)
        process.arguments = arguments
        var env = ["PATH": "/usr/bin:/bin", "GENIDCTL": fakePath]
        env.merge(environment) { $1 }
        process.environment = env
        let stdoutPath = directory.appendingPathComponent("stdout").path
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: stdoutPath)
        process.standardError = FileHandle.nullDevice
        let stdin = Pipe()
        process.standardInput = stdin
        process.terminationHandler = { [finished] _ in finished.signal() }

        started = Date()
        try process.run()
        // More than a pipe buffer of domain XML: the hook must read it all.
        let xml = HookRun.xml
        let writer = stdin.fileHandleForWriting
        Thread.detachNewThread { [self] in
            let ok = (try? writer.write(contentsOf: xml)) != nil
            try? writer.close()
            lock.withLock { stdinComplete = ok }
            stdinDone.signal()
        }
    }

    /// Waits for the hook (SIGKILL to it and to a hung fake genidctl after
    /// 10 s, so a broken hook fails the test instead of hanging it; Foundation
    /// reports the exit only once the hook's descendants are gone too).
    func wait() throws -> Result {
        if finished.wait(timeout: .now() + 10) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            if let pid = leftoverFakePID() { kill(pid, SIGKILL) }
            process.waitUntilExit()
        }
        let seconds = Date().timeIntervalSince(started)
        let wroteAll = stdinDone.wait(timeout: .now() + 5) == .success && lock.withLock { stdinComplete }
        let stdout = (try? String(contentsOf: directory.appendingPathComponent("stdout"), encoding: .utf8)) ?? ""
        let status = process.terminationReason == .exit ? process.terminationStatus : 128 + process.terminationStatus
        return Result(exitStatus: status, seconds: seconds, stdout: stdout, readAllOfStdin: wroteAll)
    }

    /// The fake genidctl's arguments, nil if it never ran. The hook starts
    /// `notify` in the background: give it up to 2 s to show up.
    func recordedArguments(within seconds: Double = 2) -> [String]? {
        let deadline = Date().addingTimeInterval(seconds)
        var text = try? String(contentsOf: directory.appendingPathComponent("args"), encoding: .utf8)
        while text == nil, Date() < deadline {
            usleep(20_000)
            text = try? String(contentsOf: directory.appendingPathComponent("args"), encoding: .utf8)
        }
        guard let text else {
            return nil
        }
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    func fakePID() -> pid_t? {
        (try? String(contentsOf: directory.appendingPathComponent("pid"), encoding: .utf8))
            .flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// The fake genidctl's pid if that process still runs (checked through
    /// its environment, which names this run's directory: a pid reused by
    /// another process is not ours to kill).
    func leftoverFakePID() -> pid_t? {
        guard let pid = fakePID(), pid > 0,
              let file = FileHandle(forReadingAtPath: "/proc/\(pid)/environ"),
              let environment = try? file.readToEnd() else { return nil }
        try? file.close()
        return String(decoding: environment, as: UTF8.self).contains(directory.path) ? pid : nil
    }

    /// SIGKILL whatever is left (the hook, a hung fake genidctl), then the directory.
    func cleanUp() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        if let pid = leftoverFakePID() { kill(pid, SIGKILL) }
        try? FileManager.default.removeItem(at: directory)
    }
}
