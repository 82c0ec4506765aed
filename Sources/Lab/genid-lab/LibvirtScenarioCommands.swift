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
    @OptionGroup var options: LibvirtRepeatOptions

    func run() async throws { try await options.run(.revert) }
}

/// --count for the scenarios that repeat a state load.
struct LibvirtRepeatOptions: ParsableArguments {
    @OptionGroup var lab: LabOptions
    @Option(help: "How many times.") var count = 3
    @Flag(help: "Print the report as JSON.") var json = false

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
    }

    func run(_ mode: LibvirtRevertScenario.Mode) async throws {
        try await runScenario(json: json) {
            await LibvirtRevertScenario(settings: lab.settings, mode: mode, count: count).run(progress: $0)
        }
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
    @OptionGroup var options: LibvirtRepeatOptions

    func run() async throws { try await options.run(.restore) }
}

struct LibvirtReadinessCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "libvirt-readiness",
        abstract: "Check that wait-ready waits for a guest watcher that takes 2 s to acknowledge.",
        discussion: """
            Starts a tracked sysgenid watcher in the guest that acknowledges \
            each new generation after 2 s (agent verb slow-watcher), takes a \
            running snapshot and reverts to it through libvirt. genidd's \
            wait-ready asked at once with a 0.5 s limit must say "not ready"; \
            without a short limit it must return no sooner than 2 s after the \
            revert began, for the guest's new value, with every tracked watcher \
            acknowledged.

            \(libvirtSetup)
            """)
    @OptionGroup var lab: LabOptions
    @Flag(help: "Print the report as JSON.") var json = false

    func run() async throws {
        try await runScenario(json: json) { await LibvirtReadinessScenario(settings: lab.settings).run(progress: $0) }
    }
}

struct FleetOutageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet-outage",
        abstract: "Check that genidd gives no value while its fleet ledger (PostgreSQL) is down, and recovers by itself.",
        discussion: """
            Starts a PostgreSQL server of its own (Tests/postgres-server: a Unix \
            socket in the run directory, no TCP port) and genidd with that fleet \
            ledger, boots a domain and takes a running snapshot. With the server \
            stopped, genidctl revert must be refused naming the ledger, the guest \
            must keep its value without a fork, and genidctl status must show the \
            ledger unreachable. With the server started again, the same genidd's \
            revert must succeed (up to 3 tries): the guest sees the new value, \
            which is in the fleet ledger for the domain (with its host), and \
            nothing was recorded while the server was down.

            \(libvirtSetup)
            """)
    @OptionGroup var lab: LabOptions
    @Flag(help: "Print the report as JSON.") var json = false

    func run() async throws {
        try await runScenario(json: json) { await FleetOutageScenario(settings: lab.settings).run(progress: $0) }
    }
}

struct RebootAfterRotateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reboot-after-rotate",
        abstract: "Check that a guest reset after genidctl rotate never shows the guest its older value.",
        discussion: """
            Boots a domain, gives it a new value with genidctl rotate (in its QEMU \
            process: QEMU's vmgenid device and libvirt's live <genid> keep the \
            older one, which stock QEMU hands the firmware at every reset), then \
            resets the guest twice (virDomainReset). After each reboot the guest \
            must run with the rotated value; genidd's audit trail must show it \
            put the value back each time, and genidctl status must still name \
            QEMU's stale device value.

            \(libvirtSetup)
            """)
    @OptionGroup var lab: LabOptions
    @Flag(help: "Print the report as JSON.") var json = false

    func run() async throws {
        try await runScenario(json: json) { await RebootAfterRotateScenario(settings: lab.settings).run(progress: $0) }
    }
}

struct FleetMigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet-migrate",
        abstract: "Check that a guest keeps its value over libvirt live migrations between two hosts.",
        discussion: """
            Starts a PostgreSQL server of its own (the fleet ledger) and two libvirt \
            hosts on this machine (qemu/lab-fleet: network, mount and UTS \
            namespaces joined by a veth pair, each with its own libvirtd, genid's \
            hook and genidd). A guest booted on host a migrates a -> b (plain), \
            gets a new value from genidctl revert on b, migrates b -> a and is \
            reset there, gets a new value from genidctl rotate on a and migrates \
            a -> b, each time with virDomainMigrateToURI3 (peer to peer, TCP); \
            then, on b, takes a running snapshot and reverts to it with libvirt, \
            and saves and restores the domain: each must give the guest a value \
            never seen before. \
            After every migration the guest must keep its value and sysgenid \
            counter and log no VM fork, the destination's QEMU must hold the \
            value, and the fleet ledger must show the value's record moved to \
            the destination host. Reports each migration's downtime (libvirt's) \
            and the ratio of the first carried one to the plain one.

            --chaos is the kill test: during every migration a random host's \
            genidd is killed (SIGKILL) at a random point and started again, and \
            PostgreSQL is restarted during one of them; no value may appear \
            twice and every value the guest had must be recorded, on the host \
            where the guest ends. The report's "chaos" lists what was done when.

            Example:
              genid-lab scenario fleet-migrate --kernel 6.1 --json

            \(libvirtSetup)
            """)
    @OptionGroup var lab: LabOptions
    @Flag(help: "Kill genidds and restart PostgreSQL during the migrations (the kill test).") var chaos = false
    @Flag(help: "Print the report as JSON.") var json = false

    func run() async throws {
        var scenario = FleetMigrateScenario(settings: lab.settings)
        scenario.chaos = chaos
        try await runScenario(json: json) { [scenario] in await scenario.run(progress: $0) }
    }
}

struct FleetCloneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet-clone",
        abstract: "Check that a domain copied to another host runs there with a value never seen before.",
        discussion: """
            Starts a PostgreSQL server of its own (the fleet ledger) and two libvirt \
            hosts on this machine (as fleet-migrate does). A domain runs on host a; \
            its persistent XML and a copy of its disk are defined on host b twice: \
            verbatim (same name and UUID) and renamed without a UUID. Before each \
            copy starts, b's genidd must have given its definition a new value; \
            the copy must run with it (seen from inside), never seen before, \
            recorded in the fleet ledger on host b; the original keeps its value.

            Example:
              genid-lab scenario fleet-clone --kernel 6.1 --json

            \(libvirtSetup)
            """)
    @OptionGroup var lab: LabOptions
    @Flag(help: "Print the report as JSON.") var json = false

    func run() async throws {
        try await runScenario(json: json) { await FleetCloneScenario(settings: lab.settings).run(progress: $0) }
    }
}

struct LibvirtScenarioOptions: ParsableArguments {
    @OptionGroup var lab: LabOptions
    @Flag(help: "Print the report as JSON.") var json = false

    static func run(_ kind: LibvirtDefinitionScenario.Kind, lab: LabOptions, json: Bool) async throws {
        try await runScenario(json: json) {
            await LibvirtDefinitionScenario(settings: lab.settings, kind: kind).run(progress: $0)
        }
    }
}

struct LibvirtInactiveRevertCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "libvirt-inactive-revert",
        abstract: "Revert a shut-off snapshot, start: the guest must see a new value.",
        discussion: """
            libvirt keeps the snapshot's <genid> on an inactive revert, so a \
            plain start would repeat it. Defines a domain, takes a shut-off \
            snapshot, boots once, shuts down, reverts the snapshot, and checks \
            that genidd wrote a fresh <genid> (DEFINED/FROM_SNAPSHOT) and that \
            the guest, started again, sees that value, never seen before, in \
            the ledger for this domain.

            \(libvirtSetup)
            """)
    @OptionGroup var options: LibvirtScenarioOptions

    func run() async throws { try await LibvirtScenarioOptions.run(.inactiveRevert, lab: options.lab, json: options.json) }
}

struct LibvirtCloneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "libvirt-clone",
        abstract: "Define a copy of a running domain from its XML: the copy must get a fresh value before it first runs.",
        discussion: """
            Copies the running domain's persistent XML (new name, no UUID, a \
            copy of its disk) and defines it, <genid> value included. genidd \
            must give the copy a fresh value (DEFINED/ADDED with another \
            domain's value) before it starts; then both guests must see \
            different values.

            \(libvirtSetup)
            """)
    @OptionGroup var options: LibvirtScenarioOptions

    func run() async throws { try await LibvirtScenarioOptions.run(.clone, lab: options.lab, json: options.json) }
}

struct LibvirtGeniddDownCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "libvirt-genidd-down",
        abstract: "Clone and inactive revert while genidd is stopped; its reconciliation must catch both.",
        discussion: """
            With a running domain and a shut-off one with a snapshot, stops \
            genidd (SIGTERM), copies the running domain's XML to a new domain \
            and reverts the other's shut-off snapshot, then starts genidd \
            again. Its reconciliation pass must give both a fresh value before \
            they run; started, both guests must see values never seen before.

            \(libvirtSetup)
            """)
    @OptionGroup var options: LibvirtScenarioOptions

    func run() async throws { try await LibvirtScenarioOptions.run(.geniddDown, lab: options.lab, json: options.json) }
}

struct LibvirtShutdownCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "libvirt-shutdown",
        abstract: "virsh shutdown (an ACPI power button press) powers the lab's guest off.",
        discussion: """
            Boots the lab's own guest as a libvirt domain with genid.acpi=1
            (its init then runs busybox's acpid), calls
            virDomainShutdown (what 'virsh shutdown' does) and waits up to
            --timeout seconds: the guest's busybox acpid must run the power
            button's action and the guest power off by itself (libvirt's
            shut-off reason 'shutdown', not destroyed or crashed), with the
            kernel's 'reboot: Power down' on the console. debian-shutdown is
            the same with systemd.
            """
    )
    @OptionGroup var lab: LabOptions
    @OptionGroup var shutdown: ShutdownOptions
    @Flag(help: "Print the report as JSON.") var json = false

    func run() async throws {
        try await runScenario(json: json) { await shutdown.scenario(lab.settings, debian: false).run(progress: $0) }
    }
}
