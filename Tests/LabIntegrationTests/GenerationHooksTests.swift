import Foundation
import Testing

extension LabIntegration {
    /// sysgenidd's generation hooks on this machine, with the real binaries:
    /// its userspace provider in a scratch directory, generations made with
    /// `sysgenidctl trigger`, and `sysgenidctl wait-watchers` as the host's
    /// readiness gate would wait. (In a guest: the debian-revert scenario.)
    @Suite(.serialized) struct GenerationHooksTests {
        @Test func hooksRunOncePerGenerationInOrderAndGateTheWatchers() async throws {
            let directory = FileManager.default.temporaryDirectory
                .appendingPathComponent("genid-hooks-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
            let hooks = "\(directory)/hooks.d"
            try FileManager.default.createDirectory(atPath: hooks, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let log = "\(directory)/runs"
            func hook(_ name: String, _ body: String, executable: Bool = true) throws {
                try "#!/bin/sh\n\(body)\n".write(toFile: "\(hooks)/\(name)", atomically: true, encoding: .utf8)
                chmod("\(hooks)/\(name)", executable ? 0o755 : 0o644)
            }
            try hook("10-first", #"echo "first $SYSGENID_GENERATION $SYSGENID_VMGENID" >> \#(log)"#)
            try hook("20-slow", #"sleep 1; echo "slow $SYSGENID_GENERATION" >> \#(log)"#)
            // Outlives its limit, with a child in the background: both end.
            try hook("30-stuck", #"sleep 300 & echo "stuck $$ $!" >> \#(log); sleep 300"#)
            try hook("README.sh", #"echo "bad name" >> \#(log)"#)
            try hook("40-off", #"echo "not executable" >> \#(log)"#, executable: false)

            let socket = "\(directory)/sysgenid.sock", page = "\(directory)/generation"
            let daemon = Process()
            daemon.executableURL = URL(fileURLWithPath: LabProcess.binary("sysgenidd"))
            daemon.arguments = ["--provider", "--socket", socket, "--page", page, "--hooks", hooks,
                                "--hook-timeout", "2", "--no-agent"]
            let errors = Pipe()
            daemon.standardError = errors
            try daemon.run()
            // SIGKILL: a child of Foundation's Process may start with SIGTERM blocked.
            defer { kill(daemon.processIdentifier, SIGKILL); daemon.waitUntilExit() }
            for _ in 0..<100 where !FileManager.default.fileExists(atPath: socket) { try await Task.sleep(for: .milliseconds(50)) }

            let control = [LabProcess.binary("sysgenidctl"), "--provider", "userspace"]
            let at = ["--socket", socket, "--page", page]
            for generation in 1...2 {
                let trigger = try await runCommand(control + ["trigger"] + at)
                try #require(trigger.status == 0, "\(trigger.errors)")
                let clock = ContinuousClock()
                let started = clock.now
                let wait = try await runCommand(control + ["wait-watchers", "--timeout", "30000"] + at)
                let waited = clock.now - started
                #expect(wait.status == 0, "\(wait.errors)")
                // 20-slow's second, then 30-stuck's 2 s limit.
                #expect(waited >= .milliseconds(2900), "wait-watchers returned after \(waited), before the hooks ended")

                let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map(String.init)
                let round = Array(lines.suffix(3))
                #expect(lines.count == 3 * generation, "\(lines)")
                #expect(round.first == "first \(generation) ", "no VMGENID on this machine, so an empty value: \(round)")
                #expect(round.dropFirst().first == "slow \(generation)", "\(round)")
                let stuck = try #require(round.last?.split(separator: " "), "\(round)")
                #expect(stuck.first == "stuck")
                for pid in stuck.dropFirst().compactMap({ Int32($0) }) {
                    #expect(!isRunning(pid), "process \(pid) of the timed-out hook still runs")
                }
            }
            kill(daemon.processIdentifier, SIGKILL)
            daemon.waitUntilExit()
            let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(stderr.contains("30-stuck for generation 2: timed out (limit 2 s)"), "\(stderr)")
            #expect(stderr.contains("WARNING: no /dev/sysgenid"), "\(stderr)")
        }
    }
}

/// True while `pid` exists and is not a zombie (an orphan that this
/// machine's PID 1 has not reaped yet has ended all the same).
private func isRunning(_ pid: Int32) -> Bool {
    guard kill(pid, 0) == 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return false }
    return !stat[close...].hasPrefix(") Z")
}

