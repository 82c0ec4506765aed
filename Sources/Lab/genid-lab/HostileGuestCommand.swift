import ArgumentParser
import GenIDLab

struct HostileGuestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hostile-guest",
        abstract: "Guest root rewrites its ACPI tables to steer genid; genid must refuse each time and write nothing.",
        discussion: """
            Boots the guest on --layout (numa: q35 with two NUMA nodes of \
            256 MiB, a RAM block each; pc: i440fx with 3.5 GiB, RAM below \
            and above 4 GiB around the PCI hole) and asks genid --via \
            genidctl (its qemu verbs on a plain QEMU) or genidd (genidctl \
            rotate and revert on a libvirt domain). For each case the paused \
            guest's RSDP, root table, VMGENID SSDT or VGIA point past the end \
            of a RAM block, into the PCI hole, across 4 GiB, at a copy of the \
            value elsewhere in RAM, or are tables with loops and absurd \
            lengths (written from the host through /proc/QEMU_PID/mem, as \
            guest root could). genid must refuse in one line naming why, \
            leave the VM paused and every byte of guest RAM as it was \
            (compared before and after), QEMU must still answer; through \
            genidd, its audit trail, status and log must say why. Then, with \
            the firmware's tables back, genid rotates the guest and the guest \
            sees the new value.
            """
    )
    @OptionGroup var lab: LabOptions
    @Option(help: ArgumentHelp("The machine.", valueName: "numa|pc")) var layout: HostileGuestScenario.Layout = .numa
    @Option(help: ArgumentHelp("Which genid is asked.", valueName: "genidctl|genidd"))
    var via: HostileGuestScenario.Path = .genidctl
    @Option(name: .customLong("case"), help: ArgumentHelp("Only this case (repeatable); all by default.", valueName: "name"))
    var cases: [String] = []
    @Flag(help: "Print the report as JSON.") var json = false

    func run() async throws {
        try await runScenario(json: json) {
            await HostileGuestScenario(settings: lab.settings, layout: layout, path: via, cases: cases).run(progress: $0)
        }
    }
}

extension HostileGuestScenario.Layout: ExpressibleByArgument {}
extension HostileGuestScenario.Path: ExpressibleByArgument {}
