import Foundation
import GenIDLab
import Testing

extension LabIntegration {
    /// Boots real Debian guest kernels under real QEMU through the genid-lab
    /// executable. Needs `make images` (the Makefile's test target does it).
    @Suite(.serialized) struct BootScenarioTests {
        @Test(arguments: TestKernels.all)
        func bootScenarioPasses(kernel: String) async throws {
            let lab = try LabProcess(["scenario", "boot", "--json", "--kernel", kernel])
            defer { lab.removeRunRoot() }
            let (status, output, errors) = await lab.finish()
            let report = try LabReport.decode(Data(output.utf8))
            #expect(status == 0, "genid-lab failed:\n\(output)\n\(errors)")
            #expect(report.passed)
            #expect(report.scenario == "boot")
            #expect(report.backend == "qemu")
            #expect(report.guestKernel.flatMap(GuestKernel.series(of:)) == kernel, "\(report.guestKernel ?? "no kernel")")
            #expect(report.checks.count >= 5)
            #expect(report.checks.allSatisfy { $0.passed })
            let equality = report.checks.first { $0.name == "guest-visible VMGENID equals QEMU's query-vm-generation-id" }
            #expect(equality?.passed == true)
            #expect(report.baselineGuid.flatMap(UUID.init(uuidString:)) != nil)
            let bootTime = try #require(report.timingsMs["boot_to_agent"])
            #expect(bootTime > 0 && bootTime < 30_000, "boot to agent took \(bootTime) ms")
            #expect(LabProcess.qemuProcesses(mentioning: lab.runRoot).isEmpty)
            #expect(lab.leftovers().isEmpty, "left behind: \(lab.leftovers())")
        }

        /// Two boots give two different values: QEMU's guid=auto is really random
        /// and the guest really reads it (not a constant).
        @Test func twoBootsSeeDifferentValues() async throws {
            var values: [String] = []
            for _ in 0..<2 {
                let lab = try LabProcess(["scenario", "boot", "--json", "--kernel", TestKernels.primary])
                defer { lab.removeRunRoot() }
                let (status, output, errors) = await lab.finish()
                #expect(status == 0, "\(errors)")
                values.append(try #require(try LabReport.decode(Data(output.utf8)).baselineGuid))
            }
            #expect(values[0] != values[1])
        }
    }
}
