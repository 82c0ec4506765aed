import ArgumentParser
import Foundation
import GenIDLab

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check that what a guest's software makes differs in every clone and revert of one snapshot.",
        discussion: """
            Boots a guest, starts the --resident commands, runs every probe
            once (the source's outputs), then turns one snapshot into
            --clones N guests (its saved state restored into N new QEMU
            processes, --parallel at a time) or reverts to it --reverts N
            times, and runs every probe again in each. A probe is a shell
            command run in the guest through the QEMU guest agent
            (guest-exec); its standard output must differ in every guest
            and from the source's (--probe), or equal the source's
            (--probe-equal). With no probe given: the kernel's random bytes
            and a kernel UUID.

            With genid (the default) each restore gives the guest a fresh
            VMGENID value in its paused window; --without-genid restores as
            QEMU alone does (every QEMU starts with the same vmgenid guid,
            as libvirt restores a domain), to show what the software does
            unprotected. A program that seeded itself before the snapshot
            repeats itself in every clone unless it listens to
            /dev/sysgenid (or the VM generation ID) and reseeds.

            The guest is the lab's own image (which runs qemu-ga), or yours:
            a kernel (--kernel-image, --initrd, --append) and/or a disk image
            (--disk, never written: every machine boots an overlay of it),
            with --memory, --cpus and more devices (--qemu-arg). Yours must
            run qemu-guest-agent. The
            lab adds -device vmgenid, the agent's virtio-serial port, a
            serial console, and QEMU's monitor. Prints
            the report (--json: Documentation/lab-report.md, with
            "probes"), writes JUnit XML with --junit, shows progress on
            standard error, and exits 0 only when every probe's expectation
            held; an error is one line. Nothing is left running.

            Examples:
              genid-lab check --clones 4
              genid-lab check --reverts 2 --junit /tmp/genid-check.xml \\
                --probe uuid='cat /proc/sys/kernel/random/uuid'
            """
    )

    @OptionGroup var lab: LabOptions

    @Option(name: .customLong("probe"), help: ArgumentHelp(
        "A probe whose output must differ in every guest: NAME=COMMAND (repeatable).", valueName: "name=command"))
    var distinctProbes: [String] = []

    @Option(name: .customLong("probe-equal"), help: ArgumentHelp(
        "A probe whose output must stay what the source printed: NAME=COMMAND (repeatable).", valueName: "name=command"))
    var equalProbes: [String] = []

    @Option(name: .customLong("resident"), help: ArgumentHelp(
        "A command started in the background before the snapshot, for probes to ask (repeatable).",
        valueName: "command"))
    var residents: [String] = []

    @Option(help: ArgumentHelp("Your guest's kernel, booted directly (with --initrd and --append).", valueName: "file"))
    var kernelImage: String?
    @Option(help: ArgumentHelp("Your guest's initrd or initramfs.", valueName: "file")) var initrd: String?
    @Option(help: ArgumentHelp("Your guest's kernel command line (keep console=ttyS0 for its console log).",
                               valueName: "cmdline"))
    var append: String?
    @Option(help: ArgumentHelp(
        "Your guest's disk image (qcow2 or raw; never written: every machine gets an overlay). Without --kernel-image it boots through the firmware.",
        valueName: "file"))
    var disk: String?
    @Option(help: ArgumentHelp("Guest memory.", valueName: "MiB")) var memory: Int?
    @Option(help: "Virtual CPUs.") var cpus = 1
    @Option(name: .customLong("qemu-arg"), help: ArgumentHelp(
        "One more QEMU argument, as given (repeatable; e.g. --qemu-arg=-device --qemu-arg=virtio-rng-pci).",
        valueName: "arg"))
    var qemuArguments: [String] = []
    @Option(help: "Clones restored from one saved state.") var clones: Int?
    @Option(help: "Reverts of one guest to one snapshot (instead of clones).") var reverts: Int?
    @Flag(help: "Restore as QEMU alone does, without genid's fresh value.") var withoutGenid = false
    @Option(help: "Clones restored at once (default: the number of CPUs).") var parallel: Int?
    @Option(help: ArgumentHelp("Seconds a probe may run.", valueName: "seconds")) var probeTimeout: Double = 30
    @Flag(help: "Keep the consoles of the guests whose probes failed (the report names the directory).")
    var keep = false
    @Option(help: ArgumentHelp("Write a JUnit XML report to FILE.", valueName: "file")) var junit: String?
    @Flag(help: "Print the report as JSON.") var json = false

    static let defaultProbes = [
        GuestProbe(name: "urandom", command: "head -c 16 /dev/urandom | od -An -tx1"),
        GuestProbe(name: "kernel-uuid", command: "cat /proc/sys/kernel/random/uuid"),
    ]

    func validate() throws {
        guard clones == nil || reverts == nil else { throw ValidationError("give --clones or --reverts, not both") }
        guard (clones ?? 1) >= 1, (reverts ?? 1) >= 1 else { throw ValidationError("--clones and --reverts must be at least 1") }
        guard (parallel ?? 1) >= 1 else { throw ValidationError("--parallel must be at least 1") }
        guard probeTimeout > 0 else { throw ValidationError("--probe-timeout must be positive") }
        guard (memory ?? 64) >= 64, cpus >= 1 else { throw ValidationError("--memory takes at least 64 (MiB), --cpus at least 1") }
        let names = try probes().map(\.name)
        guard Set(names).count == names.count else { throw ValidationError("two probes are named alike: \(names)") }
    }

    func probes() throws -> [GuestProbe] {
        do {
            let given = try distinctProbes.map { try GuestProbe(parsing: $0) }
                + equalProbes.map { try GuestProbe(parsing: $0, expectation: .equal) }
            return given.isEmpty ? CheckCommand.defaultProbes : given
        } catch let error as LabError {
            throw ValidationError(error.description)
        }
    }

    var guest: CheckGuest {
        if kernelImage == nil, initrd == nil, append == nil, disk == nil { return .labImage }
        return .custom(kernel: kernelImage, initrd: initrd, commandLine: append, disk: disk)
    }

    func run() async throws {
        LabCleanup.shared.installSignalHandlers()
        var check = SnapshotCheck(settings: lab.settings, probes: try probes())
        check.residents = residents
        check.guest = guest
        check.memoryMiB = memory ?? 512
        check.cpus = cpus
        check.extraQEMUArguments = qemuArguments
        check.fanout = reverts.map { .reverts($0) } ?? .clones(clones ?? 4)
        check.mode = withoutGenid ? .withoutGenID : .genid
        if let parallel { check.parallel = parallel }
        check.keepConsoles = keep
        check.probeTimeout = .milliseconds(Int64(probeTimeout * 1000))
        let started = ContinuousClock.now
        let report = await check.run(progress: progress)
        if let junit {
            let seconds = (ContinuousClock.now - started).components
            let xml = JUnitReport.xml(for: report, probes: check.probes, mode: check.mode.rawValue,
                                      seconds: Double(seconds.seconds) + Double(seconds.attoseconds) / 1e18)
            do {
                try xml.write(toFile: junit, atomically: true, encoding: .utf8)
            } catch {
                progress("cannot write the JUnit report to \(junit): \(error.localizedDescription)")
                throw ExitCode.failure
            }
        }
        if let error = report.error { progress("check stopped: \(error)") }
        try finish(report, json: json)
    }
}
