import ArgumentParser
import GenIDLab

@main
struct GenIDLabCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "genid-lab",
        abstract: "Boot real Debian guests under QEMU and check, from inside them, what VMGENID they see.",
        discussion: """
            The lab builds a guest image from the host's Debian kernel packages
            (installed by qemu/setup-host), boots it under QEMU with
            -device vmgenid, and talks to an agent inside the guest over
            virtio-serial. Scenarios print one JSON report (--json) and exit 0
            only when every check passed.

            Typical use:
              make guest                          # build the guest agent
              genid-lab image --kernel 6.12       # build (or reuse) the image
              genid-lab scenario boot --json      # boot, compare guest and QEMU values
              genid-lab demo                      # boot and show what the guest sees

            Nothing outlives a run: QEMU, its sockets and its RAM file are
            removed on success, failure, Ctrl-C, and (on the next run) after
            a SIGKILL.
            """,
        subcommands: [ImageCommand.self, ScenarioCommand.self, CheckCommand.self, BenchCommand.self, DemoCommand.self, KernelsCommand.self,
                      CleanCommand.self]
    )
}

/// Options every command that boots or builds shares.
struct LabOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Guest kernel: a series (MAJOR.MINOR such as 6.1, 6.12 or 7.3: the newest installed of it) or an exact release such as 6.1.0-56-amd64; 'genid-lab kernels' lists what is installed.",
        valueName: "series|release"))
    var kernel = "6.1"

    @Option(name: .long, help: ArgumentHelp(
        "Accelerator: tcg (software emulation, works everywhere) or kvm (only where KVM works for the guest).",
        valueName: "tcg|kvm"))
    var accel: MachineConfiguration.Accelerator = .tcg

    @Option(name: .long, help: ArgumentHelp(
        "Cache for guest images and console logs (default: $GENID_LAB_BUILD_DIR or build/lab).", valueName: "dir"))
    var buildDir: String?

    @Option(name: .long, help: ArgumentHelp(
        "Where the statically linked guest executables are (default: $GENID_GUEST_BIN_DIR or .build-guest/release).",
        valueName: "dir"))
    var guestBin: String?

    @Option(name: .long, help: ArgumentHelp("Seconds to wait for the guest agent after QEMU starts.", valueName: "seconds"))
    var agentTimeout: Double = 90

    func validate() throws {
        guard agentTimeout > 0 else { throw ValidationError("--agent-timeout must be positive") }
        guard GuestKernel.isSeries(kernel) || (kernel.first?.isNumber == true && kernel.contains("-")) else {
            throw ValidationError("--kernel takes a series such as 6.1, 6.12 or 7.3, or an installed release such as "
                + "6.1.0-56-amd64; got '\(kernel)'")
        }
    }

    var settings: LabSettings {
        LabSettings(buildDirectory: buildDir, guestBinaryDirectory: guestBin, kernel: kernel, accelerator: accel,
                    agentTimeout: .milliseconds(Int64(agentTimeout * 1000)))
    }
}

extension MachineConfiguration.Accelerator: ExpressibleByArgument {}
