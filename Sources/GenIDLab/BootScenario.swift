import AgentProtocol
import Foundation
import QMP
import VMGenID

/// Scenario `boot`: boot a guest, wait for its agent, and check that the
/// VMGENID value the guest reads from its own memory is the one QEMU says
/// it gave.
public struct BootScenario: Sendable {
    public static let name = "boot"
    public let settings: LabSettings
    /// Boot-to-agent time above which the check fails.
    public var bootLimit: Duration = .seconds(60)

    public init(settings: LabSettings) {
        self.settings = settings
    }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async -> LabReport {
        var report = LabReport(scenario: BootScenario.name, backend: "qemu")
        report.accelerator = settings.accelerator.rawValue
        do {
            let image = try settings.imageBuilder.image(for: settings.kernel, progress: progress)
            report.guestKernel = image.kernel.release
            var configuration = MachineConfiguration(image: image)
            configuration.accelerator = settings.accelerator
            let logPath = settings.consoleLogPath(scenario: BootScenario.name, release: image.kernel.release)
            report.consoleLog = logPath
            progress("booting \(image.kernel.release) under \(settings.accelerator.rawValue)")
            report = try await withMachine(configuration, runRoot: settings.runRoot, keepConsoleLogAt: logPath) {
                machine in
                var report = report
                let qmp = try await machine.connectQMP()
                report.qemuVersion = qmp.greeting.version.description
                let bootTime = try await machine.waitForAgent(timeout: settings.agentTimeout)
                report.timingsMs["boot_to_agent"] = bootTime.milliseconds
                progress("agent answered after \(String(format: "%.1f", bootTime.seconds)) s")
                let status = try await machine.ask(.status)
                let qemuValue = try await qmp.execute("query-vm-generation-id")["guid"]?.stringValue
                check(&report, status: status, qemuValue: qemuValue, kernel: image.kernel, bootTime: bootTime)
                return report
            }
        } catch {
            report.error = "\(error)"
            report.check("scenario ran to completion", false, "\(error)")
        }
        report.conclude()
        return report
    }

    private func check(_ report: inout LabReport, status: AgentResponse, qemuValue: String?,
                       kernel: GuestKernel, bootTime: Duration) {
        let guestRelease = status[AgentStatusField.kernelRelease] ?? "(none)"
        report.check("guest runs the selected kernel", guestRelease == kernel.release,
                     "guest \(guestRelease), selected \(kernel.release)")

        let guestValue = status[AgentStatusField.vmgenid].flatMap(GenerationID.init)
        report.check("guest located and read its VMGENID value", guestValue != nil,
                     status[AgentStatusField.vmgenidError]
                        ?? "at guest-physical \(status[AgentStatusField.vmgenidAddress] ?? "?")")
        report.baselineGuid = guestValue?.description

        let hostValue = qemuValue.flatMap(GenerationID.init)
        report.check("QEMU reports a VMGENID value", hostValue != nil, qemuValue ?? "query-vm-generation-id gave none")
        report.check("guest-visible VMGENID equals QEMU's query-vm-generation-id",
                     guestValue != nil && guestValue == hostValue,
                     "guest \(guestValue?.description ?? "none"), QEMU \(hostValue?.description ?? "none")")
        report.check("VMGENID value is not all zero", guestValue.map { $0.rfcBytes.contains { $0 != 0 } } ?? false)
        report.check("boot to agent within \(Int(bootLimit.seconds)) s", bootTime < bootLimit,
                     String(format: "%.1f s", bootTime.seconds))
    }
}

extension Duration {
    public var milliseconds: Double { seconds * 1000 }
}
