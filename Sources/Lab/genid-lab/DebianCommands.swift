import ArgumentParser
import GenIDLab

// The Debian guest scenarios: `make debian-image` first (as root), which
// builds the project's packages and the image (qemu/debian-guest).
private let debianDiscussion = """
    They boot the lab's Debian guest (build/lab/debian, made by 'make
    debian-image' as root: Debian 12 with systemd as PID 1 on a qcow2 disk,
    Debian's kernel, and genid's guest side installed from the project's
    packages, sysgenid-dkms and sysgenid-tools) as a libvirt domain on an
    overlay of its disk, with genidd running. --kernel does not apply: the
    image boots its own kernel.
    """

struct DebianBootCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "debian-boot",
        abstract: "Boot the Debian guest: systemd up, the packages' units active, the module from DKMS, /dev/sysgenid 0666.",
        discussion: debianDiscussion + """


            Checks, through the agent's `system` verb and the console:
            systemd is PID 1 and `is-system-running` says running,
            multi-user.target and the units (sysgenidd, udevd, logind, the
            image's mmap reader) are active, the loaded sysgenid module is
            DKMS's (updates/dkms/), /dev/sysgenid has mode 0666, sysgenidd
            uses the module, and a static program maps /dev/sysgenid as an
            unprivileged user.
            """
    )
    @OptionGroup var lab: LabOptions
    @Flag(help: "Print the report as JSON.") var json = false

    func run() async throws {
        try await runScenario(json: json) { await DebianBootScenario(settings: lab.settings).run(progress: $0) }
    }
}

struct DebianRevertCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "debian-revert",
        abstract: "Revert the Debian guest N times through genidd: new generations, hooks once each, wait-ready after them.",
        discussion: debianDiscussion + """


            A running snapshot, then --count 'genidctl revert's. After each:
            a value never seen before that the guest kernel and the module's
            readers took (the agent's blocking, poll and mmap readers, and
            the image's static, unprivileged mmap reader); genidd's
            wait-ready returns only once the image's slow generation hook
            (3 s) has finished. At the end, each of the image's two hooks ran
            exactly once per generation, in name order, and never for the
            boot value.
            """
    )
    @OptionGroup var lab: LabOptions
    @Option(help: "Number of reverts.") var count = 2
    @Flag(help: "Print the report as JSON.") var json = false

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
    }

    func run() async throws {
        try await runScenario(json: json) {
            await DebianRevertScenario(settings: lab.settings, count: count).run(progress: $0)
        }
    }
}

struct DebianShutdownCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "debian-shutdown",
        abstract: "virsh shutdown (an ACPI power button press) ends the Debian guest cleanly.",
        discussion: debianDiscussion + """


            Boots the guest, waits until systemd has started, calls
            virDomainShutdown (what 'virsh shutdown' does) and waits up to
            --timeout seconds: the guest must power off by itself (libvirt's
            shut-off reason 'shutdown', not destroyed or crashed), with
            systemd's power-off target and the kernel's 'reboot: Power down'
            on the console.
            """
    )
    @OptionGroup var lab: LabOptions
    @OptionGroup var shutdown: ShutdownOptions
    @Flag(help: "Print the report as JSON.") var json = false

    func run() async throws {
        try await runScenario(json: json) { await shutdown.scenario(lab.settings, debian: true).run(progress: $0) }
    }
}

/// What `debian-shutdown` and `libvirt-shutdown` share.
struct ShutdownOptions: ParsableArguments {
    @Option(help: "Seconds to wait for the guest to power off.") var timeout: Double = 120

    func validate() throws {
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
    }

    func scenario(_ settings: LabSettings, debian: Bool) -> ShutdownScenario {
        var scenario = ShutdownScenario(settings: settings, debian: debian)
        scenario.timeout = .milliseconds(Int64(timeout * 1000))
        return scenario
    }
}
