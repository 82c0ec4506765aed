import ArgumentParser
import GenIDLab

struct VMClockRevertCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vmclock-revert",
        abstract: "Revert a guest with a VMClock device N times through genid; its VM generation counter must change each time.",
        discussion: """
            Needs QEMU >= 10 (-device vmclock) and a Linux >= 7.0 guest
            (/dev/vmclock0), such as the newer stack's: run it there with
            qemu/newer-stack run. Stock QEMU never sets the VMClock flag
            VM_GEN_COUNTER_PRESENT nor changes vm_generation_counter; genid
            sets both in the paused window of every state load it drives.
            Inside the guest an unprivileged reader (uid 65534) maps
            /dev/vmclock0 read-only and follows its sequence counter. After
            each revert it must see the counter genid wrote (the first 8
            bytes of the fresh generation), never one seen before, with the
            flag set.
            """
    )
    @OptionGroup var lab: LabOptions
    @Option(help: "Number of reverts.") var count = 5
    @Flag(help: "Print the report as JSON.") var json = false

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
    }

    func run() async throws {
        try await runScenario(json: json) {
            await VMClockRevertScenario(settings: lab.settings, count: count, protected: true).run(progress: $0)
        }
    }
}

struct VMClockRevertUnprotectedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vmclock-revert-unprotected",
        abstract: "Demonstrate the gap: after plain loadvm a VMClock guest sees the snapshot's generation counter again.",
        discussion: """
            The same as vmclock-revert, with QEMU's own stop/loadvm/cont.
            Passes when the guest's unprivileged reader sees the counter the
            snapshot holds and the VM_GEN_COUNTER_PRESENT flag clear: stock
            QEMU gives applications that follow VMClock nothing to notice.
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
            await VMClockRevertScenario(settings: lab.settings, count: count, protected: false).run(progress: $0)
        }
    }
}

struct LibvirtVMClockCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "libvirt-vmclock",
        abstract: "A libvirt domain with a VMClock device: each genidd state load must give its guest a new VM generation counter.",
        discussion: """
            Needs QEMU >= 10 and a Linux >= 7.0 guest: run it on the newer
            stack (qemu/newer-stack run). The domain gets -device vmclock
            through <qemu:commandline> (libvirt has no element for it), and
            the guest an unprivileged /dev/vmclock0 reader. After each
            'genidctl revert' (--count of them) and a 'genidctl rotate'
            through genidd the reader must see the counter genid wrote, never
            one seen before, with VM_GEN_COUNTER_PRESENT set. Then libvirt's
            own revert, which resumes the guest with no paused window genid
            could write in: passes when the guest shows the snapshot's
            counter (the gap documented in Documentation/vmclock.md).
            """
    )
    @OptionGroup var lab: LabOptions
    @Option(help: "Number of genidctl reverts.") var count = 2
    @Flag(help: "Print the report as JSON.") var json = false

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
    }

    func run() async throws {
        try await runScenario(json: json) {
            await LibvirtVMClockScenario(settings: lab.settings, count: count).run(progress: $0)
        }
    }
}
