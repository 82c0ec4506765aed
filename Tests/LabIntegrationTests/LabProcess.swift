import GuestAgent
import Foundation
import GenIDLab
import SQLiteGenerationStore
import VMGenID
import Testing

/// Runs the real genid-lab executable, as a user or CI would, each test
/// with its own run directory root so leftovers can be checked exactly.
struct LabProcess: Sendable {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// The lab's build directory (the Makefile sets GENID_LAB_BUILD_DIR).
    static var buildDirectory: String {
        ProcessInfo.processInfo.environment["GENID_LAB_BUILD_DIR"] ?? "\(packageRoot)/build/lab"
    }

    /// The lab ledger the scenarios write.
    static var ledgerPath: String { "\(buildDirectory)/ledger.sqlite" }

    static func binary(_ name: String) -> String {
        (executable as NSString).deletingLastPathComponent + "/" + name
    }

    static var executable: String {
        ProcessInfo.processInfo.environment["GENID_LAB_BIN"] ?? "\(packageRoot)/.build/debug/genid-lab"
    }

    let runRoot: String
    let process = Process()
    let stdout = Pipe()
    let stderr = Pipe()

    init(_ arguments: [String]) throws {
        try self.init(runRoot: "/dev/shm/genid-lab-test-\(UUID().uuidString.prefix(8))", arguments)
    }

    /// Another run sharing `runRoot` (for sweeping what an earlier one left).
    static func inRunRoot(_ runRoot: String, _ arguments: [String]) throws -> LabProcess {
        try LabProcess(runRoot: runRoot, arguments)
    }

    private init(runRoot: String, _ arguments: [String]) throws {
        self.runRoot = runRoot
        process.executableURL = URL(fileURLWithPath: LabProcess.executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: LabProcess.packageRoot)
        var environment = ProcessInfo.processInfo.environment
        environment["GENID_LAB_RUN_DIR"] = runRoot
        process.environment = environment
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    /// Runs `genid-lab scenario ARGUMENTS --json`; expects it passed with
    /// every check passed, left no QEMU and no run files, and that the lab
    /// ledger holds no value twice.
    static func runPassingScenario(_ arguments: [String]) async throws -> LabReport {
        let lab = try LabProcess(["scenario"] + arguments + ["--json"])
        defer { lab.removeRunRoot() }
        let (status, output, errors) = await lab.finish()
        let report = try LabReport.decode(Data(output.utf8))
        #expect(status == 0, "\(arguments[0]) failed:\n\(report.summary())\n\(errors.suffix(3000))")
        #expect(report.passed)
        #expect(!report.checks.isEmpty && report.checks.allSatisfy { $0.passed })
        #expect(LabProcess.qemuProcesses(mentioning: lab.runRoot).isEmpty)
        #expect(lab.leftovers().isEmpty, "left behind: \(lab.leftovers())")
        #expect(try await SQLiteGenerationStore(path: LabProcess.ledgerPath).duplicateValues().isEmpty)
        return report
    }

    /// Runs `genid-lab bench ARGUMENTS --json`; expects exit 0 and nothing
    /// left behind, and decodes the result.
    static func runBenchmark<Result: Decodable>(_ arguments: [String], as: Result.Type) async throws -> Result {
        let lab = try LabProcess(["bench"] + arguments + ["--json"])
        defer { lab.removeRunRoot() }
        let (status, output, errors) = await lab.finish()
        #expect(status == 0, "bench \(arguments[0]) failed:\n\(errors.suffix(3000))")
        #expect(lab.leftovers().isEmpty, "left behind: \(lab.leftovers())")
        return try JSONDecoder().decode(Result.self, from: Data(output.utf8))
    }

    /// Waits for exit and returns (status, stdout, stderr).
    func finish() async -> (status: Int32, output: String, errors: String) {
        let (process, stdout, stderr) = (process, stdout, stderr)
        return await offCooperativePool {
            let errorData = ErrorCollector(stderr)
            let output = stdout.fileHandleForReading.readDataToEndOfFile()
            let status = LabProcess.waitForExit(process)
            return (status, String(decoding: output, as: UTF8.self), errorData.text())
        }
    }

    /// `waitUntilExit`, with a watchdog: Foundation's `Process` has been
    /// seen here leaving its exited child a zombie, unreaped, and waiting
    /// for ever. A child that stays a zombie for 10 s is reaped here.
    static func waitForExit(_ process: Process) -> Int32 {
        let pid = process.processIdentifier
        var zombieSince: ContinuousClock.Instant?
        while process.isRunning {
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            let state = stat.split(separator: ")").last?.split(separator: " ").first
            if state == "Z" {
                let since = zombieSince ?? .now
                zombieSince = since
                var status: Int32 = 0
                if ContinuousClock.now - since > .seconds(10), waitpid(pid, &status, WNOHANG) == pid {
                    print("LabProcess: genid-lab (pid \(pid)) exited but Foundation did not reap it; reaped here")
                    return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
                }
            }
            usleep(50_000)
        }
        return process.terminationStatus
    }

    /// Polls until a QEMU of this run is running.
    func waitForQEMU(timeout: Duration = .seconds(60)) async -> pid_t? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let pid = LabProcess.qemuProcesses(mentioning: runRoot).first { return pid }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    /// QEMU processes whose command line names `path`.
    static func qemuProcesses(mentioning path: String) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(pid_t.init).filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            let commandLine = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            return commandLine.contains("qemu-system") && commandLine.contains(path)
        }
    }

    /// What this run left in its run root (nothing, if it cleaned up).
    func leftovers() -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: runRoot)) ?? []
    }

    func removeRunRoot() {
        try? FileManager.default.removeItem(atPath: runRoot)
    }
}

/// Every integration suite nests in this one: `.serialized` makes them run
/// one at a time, so only one QEMU guest competes for the two cores while
/// the unit suites run beside it.
@Suite(.serialized) enum LabIntegration {}

/// Runs blocking work (waiting for a process) on a dispatch thread rather
/// than on Swift's cooperative pool, which has one thread per core: a test
/// blocking one would starve every other async test of the run.
func offCooperativePool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(returning: work()) }
    }
}

/// Reads a pipe to its end on another thread, so neither pipe can fill up.
final class ErrorCollector: @unchecked Sendable {
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ pipe: Pipe) {
        DispatchQueue.global().async {
            self.data = pipe.fileHandleForReading.readDataToEndOfFile()
            self.done.signal()
        }
    }

    func text() -> String {
        done.wait()
        return String(decoding: data, as: UTF8.self)
    }
}
