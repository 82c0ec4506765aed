import AgentProtocol
import ArgumentParser
import Foundation
import GenIDLab
import QMP

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Boot a guest and show what it sees: its kernel and its VMGENID value next to QEMU's."
    )

    @OptionGroup var lab: LabOptions

    func run() async throws {
        LabCleanup.shared.installSignalHandlers()
        let settings = lab.settings
        let image = try settings.imageBuilder.image(for: settings.kernel, progress: progress)
        var configuration = MachineConfiguration(image: image)
        configuration.accelerator = settings.accelerator
        progress("booting \(image.kernel.release) under \(settings.accelerator.rawValue) (about 5-10 s under TCG)")
        try await withMachine(configuration, runRoot: settings.runRoot) { machine in
            let qmp = try await machine.connectQMP()
            let bootTime = try await machine.waitForAgent(timeout: settings.agentTimeout)
            let status = try await machine.ask(.status)
            let qemuValue = try await qmp.execute("query-vm-generation-id")["guid"]?.stringValue ?? "?"
            print("""
                guest kernel        \(status[AgentStatusField.kernelRelease] ?? "?")
                boot to agent       \(String(format: "%.1f", bootTime.seconds)) s
                VMGENID page        \(status[AgentStatusField.vmgenidAddress] ?? "?") (guest-physical, from the guest's ACPI tables)
                guest sees VMGENID  \(status[AgentStatusField.vmgenid] ?? status[AgentStatusField.vmgenidError] ?? "?")
                QEMU says VMGENID   \(qemuValue)
                """)
        }
    }
}
