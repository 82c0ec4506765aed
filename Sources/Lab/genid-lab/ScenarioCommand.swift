import ArgumentParser
import Foundation
import GenIDLab

struct ScenarioCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scenario",
        abstract: "Run one lab scenario and report on it.",
        discussion: """
            Each scenario prints one report (JSON with --json, the format of
            Documentation/lab-report.md) on standard output, progress on
            standard error, and exits 0 only when every check passed.
            """,
        subcommands: [BootScenarioCommand.self, QEMURevertCommand.self, QEMURevertUnprotectedCommand.self,
                      QEMURestoreCommand.self, QEMURotateCommand.self, QEMUMigrateCommand.self,
                      QEMUMigrateUnprotectedCommand.self, VMClockRevertCommand.self, VMClockRevertUnprotectedCommand.self,
                      SysGenIDABICommand.self, HostileGuestCommand.self,
                      LibvirtRevertCommand.self, LibvirtRestoreCommand.self, LibvirtCloneCommand.self,
                      LibvirtInactiveRevertCommand.self, LibvirtReadinessCommand.self, LibvirtGeniddDownCommand.self,
                      FleetOutageCommand.self, RebootAfterRotateCommand.self, FleetMigrateCommand.self,
                      FleetCloneCommand.self, LibvirtVMClockCommand.self,
                      DebianBootCommand.self, DebianRevertCommand.self, DebianShutdownCommand.self,
                      LibvirtShutdownCommand.self]
    )
}

struct BootScenarioCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "boot",
        abstract: "Boot a guest and check that the VMGENID it reads equals QEMU's.",
        discussion: """
            Boots the guest, waits for its agent (timing it: boot_to_agent),
            asks the agent for the value it reads from the VMGENID page it
            located through its own ACPI tables, and compares it with QEMU's
            query-vm-generation-id, byte order handled.
            """
    )

    @OptionGroup var lab: LabOptions
    @Flag(help: "Print the report as JSON.") var json = false
    @Option(help: ArgumentHelp("Fail the boot-time check above this many seconds.", valueName: "seconds"))
    var bootLimit: Double = 60

    func run() async throws {
        LabCleanup.shared.installSignalHandlers()
        var scenario = BootScenario(settings: lab.settings)
        scenario.bootLimit = .milliseconds(Int64(bootLimit * 1000))
        let report = await scenario.run(progress: progress)
        print(json ? report.json() : report.summary())
        if !report.passed { throw ExitCode.failure }
    }
}

struct SysGenIDABICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sysgenid-abi",
        abstract: "Run the sysgenid conformance suite in a guest, against the kernel module or the userspace provider.",
        discussion: """
            Boots the guest with genid.provider=module (its /init loads
            sysgenid.ko) or genid.provider=userspace (sysgenidd serves
            /run/sysgenid/), has the agent run `sysgenidctl conformance`
            there, and reports each of the suite's checks. Needs `make kernel`
            and `make guest`.
            """
    )

    @OptionGroup var lab: LabOptions
    @Flag(help: "Print the report as JSON.") var json = false
    @Option(help: ArgumentHelp("The sysgenid provider under test.", valueName: "module|userspace"))
    var provider: SysGenIDABIScenario.Provider = .module

    func run() async throws {
        LabCleanup.shared.installSignalHandlers()
        let scenario = SysGenIDABIScenario(settings: lab.settings, provider: provider)
        let report = await scenario.run(progress: progress)
        print(json ? report.json() : report.summary())
        if !report.passed { throw ExitCode.failure }
    }
}

extension SysGenIDABIScenario.Provider: ExpressibleByArgument {}
