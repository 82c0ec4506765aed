import Foundation
import GenIDLab
import Testing

extension LabIntegration {
    /// Whatever way a run ends, no QEMU, socket or RAM file survives it.
    @Suite(.serialized) struct TeardownTests {
        @Test func failedScenarioLeavesNothing() async throws {
            // The agent cannot answer within 0.3 s of QEMU starting, so this fails.
            let lab = try LabProcess(["scenario", "boot", "--json", "--agent-timeout", "0.3"])
            defer { lab.removeRunRoot() }
            let (status, output, _) = await lab.finish()
            #expect(status == 1)
            let report = try LabReport.decode(Data(output.utf8))
            #expect(!report.passed)
            #expect(report.error?.contains("did not answer") == true, "\(report.error ?? "no error")")
            #expect(report.checks.contains { !$0.passed })
            #expect(LabProcess.qemuProcesses(mentioning: lab.runRoot).isEmpty)
            #expect(lab.leftovers().isEmpty, "left behind: \(lab.leftovers())")
        }

        @Test(arguments: [SIGINT, SIGTERM])
        func interruptedScenarioLeavesNothing(signal: Int32) async throws {
            let lab = try LabProcess(["scenario", "boot", "--json"])
            defer { lab.removeRunRoot() }
            let qemu = try #require(await lab.waitForQEMU(), "QEMU never started")
            kill(lab.process.processIdentifier, signal)
            let (status, _, errors) = await lab.finish()
            #expect(status == 128 + signal, "\(errors)")
            #expect(!processExists(qemu))
            #expect(LabProcess.qemuProcesses(mentioning: lab.runRoot).isEmpty)
            #expect(lab.leftovers().isEmpty, "left behind: \(lab.leftovers())")
        }

        /// SIGKILL gives the lab no chance to clean up: QEMU must die with it
        /// (parent-death signal) and the next run must sweep the directory.
        @Test func killedLabTakesQEMUDownAndTheNextRunSweeps() async throws {
            let lab = try LabProcess(["scenario", "boot", "--json"])
            defer { lab.removeRunRoot() }
            let qemu = try #require(await lab.waitForQEMU(), "QEMU never started")
            kill(lab.process.processIdentifier, SIGKILL)
            _ = await lab.finish()
            let deadline = Date().addingTimeInterval(5)
            while processExists(qemu), Date() < deadline { usleep(20_000) }
            #expect(!processExists(qemu), "QEMU outlived the killed lab")
            #expect(!lab.leftovers().isEmpty, "expected the killed run's directory to remain until swept")

            let clean = try LabProcess.inRunRoot(lab.runRoot, ["clean"])
            #expect(await clean.finish().status == 0)
            #expect(lab.leftovers().isEmpty, "left behind after clean: \(lab.leftovers())")
        }
    }
}


func processExists(_ pid: pid_t) -> Bool {
    // A zombie still answers kill(0); look at its state instead.
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
    let state = stat.split(separator: ")").last?.split(separator: " ").first
    return state != "Z" && state != "X"
}
