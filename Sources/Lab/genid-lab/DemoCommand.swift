import GuestAgent
import AgentProtocol
import ArgumentParser
import Foundation
import GenIDHost
import GenIDLab
import GenerationStore
import SQLiteGenerationStore

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Boot a guest, revert it the plain way and the genid way, and show what the guest sees.",
        discussion: """
            1. boots a Debian guest and shows its VMGENID value (read inside the
               guest) next to QEMU's;
            2. takes an internal snapshot and reverts to it with plain QEMU
               (stop, loadvm, cont): the guest still sees the old value, its
               rollback is invisible;
            3. reverts with genid: the guest sees a new value and its sysgenid
               counter moves.
            """
    )

    @OptionGroup var lab: LabOptions

    func run() async throws {
        LabCleanup.shared.installSignalHandlers()
        let settings = lab.settings
        let image = try settings.imageBuilder.image(for: settings.kernel, progress: progress)
        let ledger = try SQLiteGenerationStore(path: settings.ledgerPath)
        var configuration = MachineConfiguration(image: image)
        configuration.accelerator = settings.accelerator
        progress("booting \(image.kernel.release) under \(settings.accelerator.rawValue) (about 5-10 s under TCG)")
        try await withMachine(configuration, runRoot: settings.runRoot) { machine in
            let qmp = try await machine.connectQMP()
            let bootTime = try await machine.waitForAgent(timeout: settings.agentTimeout)
            let booted = try await machine.ask(.status)
            let qemuValue = try await qmp.execute("query-vm-generation-id")["guid"]?.stringValue ?? "?"
            print("""
                guest kernel        \(booted[AgentStatusField.kernelRelease] ?? "?")
                boot to agent       \(String(format: "%.1f", bootTime.seconds)) s
                VMGENID page        \(booted[AgentStatusField.vmgenidAddress] ?? "?") (guest-physical, from the guest's ACPI tables)
                QEMU says VMGENID   \(qemuValue)

                """)
            show("after boot", booted)

            let vm = try await machine.attach(name: "demo/" + (machine.directory.path as NSString).lastPathComponent)
            let rotator = Rotator(vm: vm, store: ledger)
            try await rotator.snapshot(named: "demo")
            try await Task.sleep(for: .seconds(1))

            try await qmp.execute("stop")
            _ = try await qmp.humanMonitorCommand("loadvm demo")
            try await qmp.execute("cont")
            try await Task.sleep(for: .seconds(2))
            show("after plain loadvm", try await machine.ask(.status), note: "same value: the guest cannot tell")

            _ = try await rotator.revert(to: "demo")
            try await Task.sleep(for: .seconds(2))
            show("after genid revert", try await machine.ask(.status), note: "new value, never given before")
        }
    }

    private func show(_ moment: String, _ status: AgentResponse, note: String = "") {
        let value = status[AgentStatusField.vmgenid] ?? status[AgentStatusField.vmgenidError] ?? "?"
        let counter = status["sysgenid_counter"] ?? "-"
        let padded = moment.padding(toLength: 20, withPad: " ", startingAt: 0)
        print("\(padded)guest sees \(value)   sysgenid \(counter)\(note.isEmpty ? "" : "   (\(note))")")
    }
}
