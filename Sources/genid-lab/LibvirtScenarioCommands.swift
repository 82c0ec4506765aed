import ArgumentParser
import GenIDLab

/// What every libvirt scenario shares in its help.
private let libvirtSetup = """
    The lab configures the system libvirtd itself (/etc/libvirt/qemu.conf: \
    security_driver "none", cgroup_controllers [ ], user and group root; \
    starts virtlogd and libvirtd if they do not run), defines its domains \
    from qemu/libvirt-domain.xml (TCG, direct kernel boot, <genid/>, RAM in a \
    shared memfd, two agent channels), and runs genidd (.build/debug/genidd, \
    or $GENID_GENIDD) with the lab ledger, build/lab/ledger.sqlite. \
    genidd's log is kept in build/lab/logs/SCENARIO-genidd.log.
    """

struct LibvirtRevertCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "libvirt-revert",
        abstract: "Revert a running libvirt domain to one snapshot N times; each must be a new generation.",
        discussion: """
            Takes a running internal snapshot with libvirt, then reverts to it \
            --count times (virDomainRevertToSnapshot; libvirt restarts QEMU). \
            After each: the guest agent's value equals libvirt's live <genid>, \
            is new, is in the ledger for this domain (genidd recorded it), the \
            guest kernel and sysgenid readers saw the change, and genidctl's \
            wait-ready returns for that value.

            \(libvirtSetup)
            """)
    @OptionGroup var lab: LabOptions
    @Option(help: "Number of reverts.") var count = 3
    @Flag(help: "Print the report as JSON.") var json = false

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
    }

    func run() async throws {
        LabCleanup.shared.installSignalHandlers()
        try finish(await LibvirtRevertScenario(settings: lab.settings, mode: .revert, count: count).run(progress: progress),
                   json: json)
    }
}

struct LibvirtRestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "libvirt-restore",
        abstract: "Restore one saved libvirt domain state N times; each must be a new generation.",
        discussion: """
            Saves the running domain once (virDomainSave), then restores that \
            same file --count times (virDomainRestore), with the same checks as \
            libvirt-revert.

            \(libvirtSetup)
            """)
    @OptionGroup var lab: LabOptions
    @Option(help: "Number of restores.") var count = 3
    @Flag(help: "Print the report as JSON.") var json = false

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
    }

    func run() async throws {
        LabCleanup.shared.installSignalHandlers()
        try finish(await LibvirtRevertScenario(settings: lab.settings, mode: .restore, count: count).run(progress: progress),
                   json: json)
    }
}
