import Foundation
import GenIDLab
import Testing

extension LabIntegration {
    /// The sysgenid conformance suite in real guests: both Debian kernels, with
    /// the kernel module and with sysgenidd's userspace provider. Needs
    /// `make images` (which builds the module with `make kernel`).
    @Suite(.serialized) struct SysGenIDABITests {
        static let combinations: [(String, String)] = [("6.1", "module"), ("6.1", "userspace"),
                                                       ("6.12", "module"), ("6.12", "userspace")]

        @Test(arguments: combinations)
        func conformanceSuitePasses(kernel: String, provider: String) async throws {
            let lab = try LabProcess(["scenario", "sysgenid-abi", "--json", "--kernel", kernel, "--provider", provider])
            defer { lab.removeRunRoot() }
            let (status, output, errors) = await lab.finish()
            let report = try LabReport.decode(Data(output.utf8))
            let failed = report.checks.filter { !$0.passed }.map { "\($0.name): \($0.detail)" }
            #expect(status == 0, "genid-lab failed:\n\(failed.joined(separator: "\n"))\n\(errors.suffix(3000))")
            #expect(report.passed)
            #expect(report.scenario == "sysgenid-abi")
            #expect(report.guestKernel?.hasPrefix(kernel == "6.1" ? "6.1.0-" : "6.12.") == true)
            #expect(report.checks.count >= (provider == "module" ? 145 : 130), "only \(report.checks.count) checks")
            #expect(report.checks.contains { $0.name == "the guest's sysgenid provider is \(provider)" && $0.passed })
            #expect(report.checks.contains { $0.name.hasPrefix("stress:") && $0.passed })
            #expect(report.checks.contains { $0.name.contains("fails EACCES") && $0.passed })
            #expect(report.timingsMs["conformance"] != nil)
            #expect(LabProcess.qemuProcesses(mentioning: lab.runRoot).isEmpty)
            #expect(lab.leftovers().isEmpty, "left behind: \(lab.leftovers())")
        }
    }
}
