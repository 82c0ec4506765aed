import GuestAgent
import AgentProtocol
import Foundation
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
        await ScenarioContext.report(scenario: BootScenario.name, settings: settings, provider: nil,
                                     progress: progress) { context in
            let kernel = context.image.kernel
            try await context.withBootedMachine { machine, report in
                let bootMilliseconds = report.timingsMs["boot_to_agent"] ?? .infinity
                progress("agent answered after \(String(format: "%.1f", bootMilliseconds / 1000)) s")
                let status = try await machine.ask(.status)
                let qemuValue = try await machine.connectQMP().execute("query-vm-generation-id")["guid"]?.stringValue
                check(&report, status: status, qemuValue: qemuValue, kernel: kernel,
                      bootMilliseconds: bootMilliseconds)
            }
        }
    }

    private func check(_ report: inout LabReport, status: AgentResponse, qemuValue: String?,
                       kernel: GuestKernel, bootMilliseconds: Double) {
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
        report.check("boot to agent within \(Int(bootLimit.seconds)) s", bootMilliseconds < bootLimit.milliseconds,
                     String(format: "%.1f s", bootMilliseconds / 1000))
    }
}

extension Duration {
    public var milliseconds: Double { seconds * 1000 }
}
