import ArgumentParser
import GenIDLab

/// Prints a scenario's report and turns a failed report into exit 1.
func finish(_ report: LabReport, json: Bool) throws {
    print(json ? report.json() : report.summary())
    if !report.passed { throw ExitCode.failure }
}

/// Runs a scenario as every `scenario` command does: Ctrl-C and SIGTERM
/// clean up, progress goes to standard error, the report to standard
/// output, and a failed report exits 1.
func runScenario(json: Bool, _ scenario: (@escaping @Sendable (String) -> Void) async -> LabReport) async throws {
    LabCleanup.shared.installSignalHandlers()
    try finish(await scenario(progress), json: json)
}

struct QEMURevertCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qemu-revert",
        abstract: "Revert a running guest to one snapshot N times through genid; each time it must see a new value.",
        discussion: """
            Boots a guest, takes an internal snapshot, then reverts to it
            --count times in the same QEMU process with genid's rotation
            (stop, loadvm, fresh value written and verified, cont). After
            each revert the guest agent must report a value equal to the
            host's, different from the baseline and from every earlier one,
            and its kernel must have processed the change (the vmfork line in
            its kernel log), and the agent's blocking read(), poll() and mmap
            readers must each have seen the new sysgenid generation
            (--provider: the kernel module or sysgenidd's userspace
            provider). Values go to the lab ledger (build/lab/ledger.sqlite).
            """
    )
    @OptionGroup var lab: LabOptions
    @Option(help: "Number of reverts.") var count = 5
    @Option(help: ArgumentHelp("The guest's sysgenid provider, whose blocking, poll and mmap readers must see each change.",
                               valueName: "module|userspace"))
    var provider: SysGenIDABIScenario.Provider = .userspace
    @Flag(help: "Print the report as JSON.") var json = false

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
    }

    func run() async throws {
        try await runScenario(json: json) {
            await QEMURevertScenario(settings: lab.settings, count: count, protected: true, provider: provider).run(progress: $0)
        }
    }
}

struct QEMURevertUnprotectedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qemu-revert-unprotected",
        abstract: "Demonstrate the bug: plain stop/loadvm/cont reverts that the guest never notices.",
        discussion: """
            The same as qemu-revert, with QEMU's own loadvm. QEMU rewrites the
            value the snapshot already holds, so the guest's RNG, UUIDs and
            keys are rewound without a signal. Passes when the guest did NOT
            observe the rollback: it still sees the baseline value and its
            kernel logged no VM fork.
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
            await QEMURevertScenario(settings: lab.settings, count: count, protected: false).run(progress: $0)
        }
    }
}

struct QEMURestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qemu-restore",
        abstract: "Restore N fresh QEMU processes from one saved state; each guest must see its own value.",
        discussion: """
            Boots a guest, saves its state to a file (a migration stream),
            shuts it down, then starts --count QEMU processes with
            '-incoming defer' and restores each through genid (stop, load,
            fresh value, cont). Checks inside each guest as qemu-revert does.
            """
    )
    @OptionGroup var lab: LabOptions
    @Option(help: "Number of restores.") var count = 3
    @Option(help: ArgumentHelp("The guest's sysgenid provider, whose blocking, poll and mmap readers must see each change.",
                               valueName: "module|userspace"))
    var provider: SysGenIDABIScenario.Provider = .userspace
    @Flag(help: "Print the report as JSON.") var json = false

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
    }

    func run() async throws {
        try await runScenario(json: json) {
            await QEMURestoreScenario(settings: lab.settings, count: count, provider: provider).run(progress: $0)
        }
    }
}

struct QEMURotateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qemu-rotate",
        abstract: "Rotate a running guest's value on demand; the guest must notice.")
    @OptionGroup var lab: LabOptions
    @Option(help: ArgumentHelp("The guest's sysgenid provider, whose blocking, poll and mmap readers must see each change.",
                               valueName: "module|userspace"))
    var provider: SysGenIDABIScenario.Provider = .userspace
    @Flag(help: "Print the report as JSON.") var json = false

    func run() async throws {
        try await runScenario(json: json) {
            await QEMURotateScenario(settings: lab.settings, provider: provider).run(progress: $0)
        }
    }
}
