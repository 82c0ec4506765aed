import ArgumentParser
import GenIDLab

struct QEMUMigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qemu-migrate",
        abstract: "Live-migrate a guest after a genid revert; it must keep its value and see no fork.",
        discussion: """
            Boots a guest with a fixed -device vmgenid,guid= (as libvirt
            starts QEMU), reverts it through genid (the guest now has a
            value QEMU's device does not know), then live-migrates it through
            genid's Migrator to a second QEMU started with the same command
            line and -incoming defer. From inside the guest: its value, its
            sysgenid counter and its kernel's vmfork count are unchanged.
            Timings: migration_total and destination_pause (genid's write in
            the destination's paused window).
            """
    )
    @OptionGroup var lab: LabOptions
    @Flag(help: "Print the report as JSON.") var json = false

    func run() async throws {
        try await runScenario(json: json) {
            await QEMUMigrateScenario(settings: lab.settings, protected: true).run(progress: $0)
        }
    }
}

struct QEMUMigrateUnprotectedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qemu-migrate-unprotected",
        abstract: "Demonstrate the bug: after a genid revert, QEMU's own migration shows the guest an old value.",
        discussion: """
            The same as qemu-migrate, with QEMU's plain migration. The
            destination's vmgenid device writes the value QEMU was started
            with, which the guest had before the revert: the guest sees it
            again and its kernel reports a VM fork that did not happen.
            Passes when the guest shows exactly that.
            """
    )
    @OptionGroup var lab: LabOptions
    @Flag(help: "Print the report as JSON.") var json = false

    func run() async throws {
        try await runScenario(json: json) {
            await QEMUMigrateScenario(settings: lab.settings, protected: false).run(progress: $0)
        }
    }
}
