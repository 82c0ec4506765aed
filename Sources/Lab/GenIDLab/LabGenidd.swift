import Foundation
import GenIDControl
import Synchronization

/// genidd as the lab runs it: the real binary, with its own configuration
/// file, control socket and log in a run directory, the lab's ledger, and
/// the system libvirtd. Stopped gracefully (SIGTERM) or killed (SIGKILL) on
/// purpose by scenarios; never outlives the lab (parent-death signal).
public final class LabGenidd: Sendable {
    public let directory: RunDirectory
    public let ledgerPath: String
    public let libvirtURI: String
    /// A fleet host's namespace holder (`LabFleet`): genidd runs inside its
    /// network, mount and UTS namespaces, so it sees that host's libvirtd
    /// at `qemu:///system` and names that host in its records.
    public let namespaceHolder: pid_t?
    /// genidd's limit of open descriptors (`prlimit --nofile`); nil: inherited.
    public let fileLimit: Int?
    private let process = Mutex<ChildProcess?>(nil)
    private let starts = Atomic<Int>(0)

    /// The capabilities genidd keeps, as its systemd unit's
    /// `CapabilityBoundingSet=` says (a unit test holds the two equal): the
    /// lab runs it with only these, so a missing one fails a scenario
    /// instead of turning a check into "not verified".
    public static let capabilities = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_SYS_PTRACE"]

    public var socketPath: String { "\(directory.path)/genidd.sock" }
    public var configurationPath: String { "\(directory.path)/genidd.json" }
    public var logPath: String { "\(directory.path)/genidd.log" }
    public var client: ControlClient { ControlClient(socketPath: socketPath) }

    /// `controlGroup`: members may use every control command;
    /// `readOnlyGroup`: members may read (with either, the run directory is
    /// opened to others so they can reach the socket).
    /// `metricsAddress`: HOST:PORT of the Prometheus endpoint (none by default).
    /// `ledgerPath`: an SQLite file (relative to the current directory) or a
    /// `postgres://` URL. `logLevel`: genidd's, `debug` unless a benchmark
    /// wants its logging out of the measurement.
    public init(ledgerPath: String, libvirtURI: String, runRoot: String, controlGroup: String? = nil,
                readOnlyGroup: String? = nil, metricsAddress: String? = nil, logLevel: String = "debug",
                namespaceHolder: pid_t? = nil, fileLimit: Int? = nil) throws {
        self.namespaceHolder = namespaceHolder
        self.fileLimit = fileLimit
        directory = try RunDirectory.create(in: runRoot, name: "genidd")
        self.ledgerPath = ledgerPath.contains("://") || (ledgerPath as NSString).standardizingPath.hasPrefix("/")
            ? ledgerPath : FileManager.default.currentDirectoryPath + "/" + ledgerPath
        self.libvirtURI = libvirtURI
        var configuration: [String: Any] = [
            "libvirtURI": libvirtURI, "ledger": self.ledgerPath, "controlSocket": socketPath,
            "metricsAddress": metricsAddress.map { $0 as Any } ?? NSNull(), "readinessTimeoutSeconds": 60, "reconnectSeconds": 0.5, "logLevel": logLevel,
        ]
        configuration["controlGroup"] = controlGroup
        configuration["readOnlyGroup"] = readOnlyGroup
        if controlGroup != nil || readOnlyGroup != nil {
            chmod(directory.path, 0o755)
            chmod(runRoot, 0o755)
        }
        let data = try JSONSerialization.data(withJSONObject: configuration, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: URL(fileURLWithPath: configurationPath))
    }

    /// The genidd next to this executable (genid-lab or the test runner), or $GENID_GENIDD.
    public static var executablePath: String {
        if let path = ProcessInfo.processInfo.environment["GENID_GENIDD"] { return path }
        let own = runningExecutable
        var directory = own.deletingLastPathComponent()
        // The test runner lives in .build/debug/genidPackageTests.xctest.
        if directory.lastPathComponent.hasSuffix(".xctest") { directory.deleteLastPathComponent() }
        return directory.appendingPathComponent("genidd").path
    }

    /// The genidctl next to that genidd.
    public static var genidctlPath: String {
        URL(fileURLWithPath: executablePath).deletingLastPathComponent().appendingPathComponent("genidctl").path
    }

    /// Starts genidd and waits until it answers with a libvirt connection
    /// (its reconciliation pass has run by then).
    public func start(timeout: Duration = .seconds(30)) async throws {
        let executable = Self.executablePath
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw LabError.io(path: executable, message: "genidd is not built here; run 'swift build' "
                + "(or set GENID_GENIDD to a genidd binary)")
        }
        let number = starts.add(1, ordering: .relaxed).newValue
        // setpriv, prlimit and nsenter each exec the next (no PID namespace
        // to fork into): one pid, genidd's.
        let bounding = "-all," + Self.capabilities.map { "+" + $0.dropFirst(4).lowercased() }.joined(separator: ",")
        var (program, arguments) = ("/usr/bin/setpriv", ["--bounding-set", bounding, "--", executable,
                                                         "--config", configurationPath])
        if let fileLimit {
            (program, arguments) = ("/usr/bin/prlimit", ["--nofile=\(fileLimit):\(fileLimit)", "--", program] + arguments)
        }
        if let holder = namespaceHolder {
            (program, arguments) = ("/usr/bin/nsenter", ["--target", "\(holder)", "--net", "--mount", "--uts", "--",
                                                         program] + arguments)
        }
        let child = try ChildProcess.spawn(program, arguments: arguments, stderrPath: "\(logPath).\(number)")
        process.withLock { $0 = child }
        let deadline = ContinuousClock.now + timeout
        var last = "no answer"
        while ContinuousClock.now < deadline {
            if let status = child.exitStatus {
                throw LabError.commandFailed(command: "genidd", status: status, output: log(lines: 20))
            }
            if let response = try? client.send(ControlRequest(command: .status)) {
                if response.ok { return }
                last = response.error ?? "refused"
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw LabError.commandFailed(command: "genidd (not ready within \(timeout.seconds) s: \(last))",
                                     status: -1, output: log(lines: 20))
    }

    /// SIGTERM and wait: genidd's graceful shutdown. Its exit status (nil if it was not running).
    @discardableResult
    public func stop() -> Int32? {
        guard let child = process.withLock({ $0 }) else { return nil }
        kill(child.pid, SIGTERM)
        child.waitForExit(grace: .seconds(10))
        process.withLock { $0 = nil }
        return child.exitStatus
    }

    /// SIGKILL: genidd dies wherever it is.
    public func kill9() {
        guard let child = process.withLock({ $0 }) else { return }
        child.killAndWait()
        process.withLock { $0 = nil }
    }

    /// The running genidd's process ID.
    public var pid: pid_t? { process.withLock { $0?.pid } }

    public var isRunning: Bool { process.withLock { $0?.exitStatus == nil && $0 != nil } }

    public func send(_ request: ControlRequest) throws -> ControlResponse {
        try client.send(request)
    }

    /// The log of genidd's latest start.
    public var runLogPath: String { "\(logPath).\(starts.load(ordering: .relaxed))" }

    /// The newest lines of every run's log.
    public func log(lines: Int) -> String {
        let runs = starts.load(ordering: .relaxed)
        guard runs > 0 else { return "" }
        return (1...runs).compactMap { FileManager.default.contents(atPath: "\(logPath).\($0)") }
            .map { String(decoding: $0, as: UTF8.self) }.joined()
            .split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    /// Stops genidd and removes its directory (keeping the log at `keepLogAt`).
    public func tearDown(keepLogAt path: String? = nil) {
        stop()
        if let path {
            try? log(lines: 100_000).write(toFile: path, atomically: true, encoding: .utf8)
        }
        directory.remove()
    }
}

/// The file this process runs (argv[0] may be a bare name found on PATH).
var runningExecutable: URL {
    URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
        ?? CommandLine.arguments[0]).resolvingSymlinksInPath()
}
