import ArgumentParser
import Foundation
import GenIDLab

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Side-by-side benchmarks on a real guest, reported as medians and ratios.",
        subcommands: [RevertBenchCommand.self, GuestBenchCommand.self, LibvirtRevertBenchCommand.self,
                      MigrateBenchCommand.self, FleetBenchCommand.self, FleetMigrateBenchCommand.self,
                      LoadBenchCommand.self]
    )
}

struct RevertBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revert",
        abstract: "Plain stop/loadvm/cont against genid's revert, alternating on the same guest.",
        discussion: """
            Each round runs one plain revert and one genid revert of the same
            snapshot, in alternating order. Prints both medians, their ratio,
            what genid adds (median difference and the median of its own
            ledger + write + verify step), and, on their own, the cost of
            locating the VMGENID page through the guest's ACPI tables and of
            one write-and-verify. The genid revert is the code 'genidctl qemu
            revert' runs, measured in-process (no process start-up).
            """
    )
    @OptionGroup var lab: LabOptions
    @Option(help: "Rounds (each is one plain and one genid revert).") var rounds = 15
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard rounds >= 3 else { throw ValidationError("--rounds must be at least 3") }
    }

    func run() async throws {
        try await runBenchmark(json: json, {
            try await RevertBenchmark(settings: lab.settings, rounds: rounds).run(progress: $0)
        }) { result in
            String(format: """
            guest kernel            %@
            rounds                  %d
            plain revert median     %.2f ms
            genid revert median     %.2f ms
            ratio genid/plain       %.3f
            added by genid          %.2f ms (median difference); its own steps %.3f ms (median)
            guest pause, genid      %.2f ms (median, stop to cont)
            locate page (ACPI walk) %.3f ms (median)
            write-and-verify        %.4f ms (median)
            """, result.guestKernel, result.rounds, result.plainMedian, result.genidMedian, result.ratio,
            result.addedMedian, result.rotationStepMedian, result.genidPauseMedian, result.locateMedian, result.writeAndVerifyMedian)
        }
    }
}

struct GuestBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guest",
        abstract: "Inside the guest: wake-up latency after a rotation, and the cost of an mmap check and of a read().",
        discussion: """
            Boots one guest per provider (the kernel module, then sysgenidd's
            userspace provider) and rotates it --rotations times with genid.
            Before each rotation the agent arms a thread blocked in read()
            that, when it wakes, sends a line on the agent port at once. The
            wake-up latency is the host's clock from the end of QMP 'cont'
            to that line's arrival: no host and guest clocks are compared,
            and it includes the virtio-serial delivery, so it is an upper
            bound. Then the agent measures, in the guest, one load of the
            counter from the mapped page (--mmap-loads) and one read() on an
            outdated handle (--reads), as median ns per operation. The
            userspace provider's read() is a request on its socket.
            """
    )
    @OptionGroup var lab: LabOptions
    @Option(help: "Rotations per provider.") var rotations = 20
    @Option(help: ArgumentHelp("Providers to measure, comma-separated.", valueName: "module,userspace"))
    var providers = "module,userspace"
    @Option(help: "Loads of the mapped counter measured in the guest.") var mmapLoads = 100_000
    @Option(help: "read() calls on an outdated handle measured in the guest.") var reads = 2_000
    @Flag(help: "Print JSON.") var json = false

    var providerList: [SysGenIDABIScenario.Provider] {
        providers.split(separator: ",").compactMap { SysGenIDABIScenario.Provider(rawValue: String($0)) }
    }

    func validate() throws {
        guard rotations >= 1 else { throw ValidationError("--rotations must be at least 1") }
        guard mmapLoads >= 1000, reads >= 1 else { throw ValidationError("--mmap-loads >= 1000 and --reads >= 1") }
        let names = providers.split(separator: ",")
        guard !names.isEmpty, providerList.count == names.count else {
            throw ValidationError("--providers takes module, userspace or both, comma-separated")
        }
    }

    func run() async throws {
        let benchmark = GuestBenchmark(settings: lab.settings, rotations: rotations, providers: providerList,
                                       mmapLoads: mmapLoads, reads: reads)
        try await runBenchmark(json: json, { try await benchmark.run(progress: $0) }, text: Self.table)
    }

    static func table(_ result: GuestBenchmark.Result) -> String {
        var lines = ["accelerator".padding(toLength: 44, withPad: " ", startingAt: 0) + result.accelerator]
        func row(_ label: String, _ values: [String]) {
            lines.append(label.padding(toLength: 44, withPad: " ", startingAt: 0)
                         + values.map { $0.padding(toLength: 18, withPad: " ", startingAt: 0) }.joined())
        }
        let all = result.providers
        row("provider", all.map(\.provider))
        row("guest kernel", all.map(\.guestKernel))
        row("rotations", all.map { String($0.rotations) })
        row("wake-up after cont, median (upper bound)", all.map { String(format: "%.2f ms", $0.wakeupMedian) })
        row("wake-up after cont, p99 (upper bound)", all.map { String(format: "%.2f ms", $0.wakeupP99) })
        row("woke with the new generation every time", all.map { $0.wakeupGenerationsOK ? "yes" : "NO" })
        row("genid rotation (ledger+loadvm+write+cont)", all.map { String(format: "%.1f ms", $0.rotationMedian) })
        row("mmap check of the counter, median", all.map { String(format: "%.1f ns", $0.mmapNanosecondsPerOp) })
        row("read() on an outdated handle, median", all.map { String(format: "%.0f ns", $0.readNanosecondsPerOp) })
        row("read() on an outdated handle, p99", all.map { String(format: "%.0f ns", $0.readP99Nanoseconds) })
        row("(guest clock_gettime, in each timed read)", all.map { String(format: "%.0f ns", $0.clockNanoseconds) })
        lines.append("")
        lines.append("Wake-up latency is the host's clock from the end of QMP cont to the arrival of the guest's")
        lines.append("wake-up line: it includes the virtio-serial delivery back to the host, an upper bound.")
        lines.append("Guest costs are measured inside the guest under \(result.accelerator) (slow under TCG).")
        return lines.joined(separator: "\n")
    }
}

struct LibvirtRevertBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "libvirt-revert",
        abstract: "libvirt's running revert (restarts QEMU) against genidctl's in-process revert, same guest.",
        discussion: """
            Boots a domain under the lab's libvirtd with genidd, takes a running
            snapshot, then alternates (order flipped each round) libvirt's
            virDomainRevertToSnapshot and `genidctl revert DOMAIN SNAPSHOT`
            (a genidctl process, genidd's control socket, then stop, loadvm,
            fresh value, cont through libvirt's monitor passthrough). Reports
            both medians until the call returned and until the guest agent
            answered again, and their ratios (genidctl / libvirt).
            """
    )
    @OptionGroup var lab: LabOptions
    @Option(help: "Rounds (each is one revert of each kind).") var rounds = 7
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard rounds >= 3 else { throw ValidationError("--rounds must be at least 3") }
    }

    func run() async throws {
        try await runBenchmark(json: json, {
            try await LibvirtRevertBenchmark(settings: lab.settings, rounds: rounds).run(progress: $0)
        }) { result in
            String(format: """
            guest kernel                   %@
            rounds                         %d
            libvirt revert median          %.1f ms (until the API returned)
            genidctl revert median         %.1f ms (until genidctl exited)
            ratio genidctl/libvirt         %.3f
            libvirt revert, to agent       %.1f ms (until the guest agent answered)
            genidctl revert, to agent      %.1f ms
            ratio genidctl/libvirt         %.3f
            genidd's pause (stop to cont)  %.1f ms (median)
            """, result.guestKernel, result.rounds, result.libvirtMedian, result.genidctlMedian, result.ratio,
            result.libvirtToAgentMedian, result.genidctlToAgentMedian, result.toAgentRatio, result.genidPauseMedian)
        }
    }
}

/// Runs a benchmark as every `bench` command does: Ctrl-C and SIGTERM
/// clean up, progress goes to standard error, the result to standard
/// output as JSON or as `text` made of it.
func runBenchmark<Result: Encodable>(json: Bool,
                                     _ benchmark: (@escaping @Sendable (String) -> Void) async throws -> Result,
                                     text: (Result) -> String) async throws {
    LabCleanup.shared.installSignalHandlers()
    let result = try await benchmark(progress)
    if json { try printJSON(result) } else { print(text(result)) }
}

func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

struct MigrateBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Live-migration downtime: QEMU alone against genid's Migrator, alternating on the same guest.",
        discussion: """
            One guest, booted with a fixed vmgenid guid, is live-migrated from
            QEMU to QEMU --rounds times each way, alternating QEMU's own
            migration and genid's (the order flipped every round), each
            destination becoming the next source. Downtime is QEMU's own
            'downtime' (the source stopped until the stream is done); through
            genid the destination then waits paused for genid's write, which
            is added. Prints both medians, their ratio and the median of that
            added pause.
            """
    )
    @OptionGroup var lab: LabOptions
    @Option(help: "Rounds (each is one plain and one genid migration).") var rounds = 5
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }
    }

    func run() async throws {
        try await runBenchmark(json: json, {
            try await MigrateBenchmark(settings: lab.settings, rounds: rounds).run(progress: $0)
        }) { result in
            String(format: """
            guest kernel              %@
            rounds                    %d
            plain downtime median     %.2f ms
            genid downtime median     %.2f ms
            ratio genid/plain         %.3f
            genid's destination pause %.2f ms (median, load done to cont)
            """, result.guestKernel, result.rounds, result.plainMedian, result.genidMedian, result.ratio,
            result.destinationPauseMedian)
        }
    }
}

struct FleetMigrateBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet-migrate",
        abstract: "libvirt live-migration downtime between two hosts: plain against genid's continuity, alternating.",
        discussion: """
            Two libvirt hosts on this machine (as in 'scenario fleet-migrate'),
            one guest migrated back and forth --rounds times each way,
            each time after genidctl rotate and two seconds of quiet,
            alternately plain (genid's hook off on the destination: the guest
            is shown its QEMU device's older value) and with genid (the
            destination's hook carries the guest's value into the new QEMU),
            the order flipped every round. Downtime is libvirt's (completed job
            statistics on the destination). Prints both medians, their ratio,
            the ratio of the whole jobs, and whether every genid migration left
            the guest its value.

            Example:
              genid-lab bench fleet-migrate --rounds 1 --kernel 6.1
            """
    )
    @OptionGroup var lab: LabOptions
    @Option(help: "Rounds (each is one plain and one genid migration).") var rounds = 3
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }
    }

    func run() async throws {
        try await runBenchmark(json: json, {
            try await FleetMigrateBenchmark(settings: lab.settings, rounds: rounds).run(progress: $0)
        }) { result in
            String(format: """
            guest kernel              %@
            rounds                    %d
            plain downtime median     %.1f ms
            genid downtime median     %.1f ms
            downtime ratio genid/plain %.3f
            whole job ratio genid/plain %.3f
            genid kept the guest's value %@
            """, result.guestKernel, result.rounds, result.plainDowntimeMedian, result.genidDowntimeMedian,
            result.downtimeRatio, result.jobRatio, result.valuesKept ? "every time" : "NOT every time")
        }
    }
}

struct FleetBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet",
        abstract: "genidd's own memory per domain and its reconciliation time, for many domains (libvirt's test driver).",
        discussion: """
            For each --domains size: a libvirt test-driver node file with that
            many running domains, each with a <genid>; a bare libvirt client
            (virsh) holding the same domains, whose private memory (Pss_Anon)
            is libvirt's share; genidd on the same URI and --ledger, timed
            from its start until its first reconciliation pass answers (the
            start-up pass records every value), then --passes passes through
            its control socket. Reports genidd's and the client's private
            memory, genidd's own per domain ((genidd - client) / domains) and
            the median pass. No guest boots; genidd is the binary next to
            genid-lab (or $GENID_GENIDD: use a release build for figures).

            Examples:
              genid-lab bench fleet --domains 100,1000 --passes 3
            """
    )
    @OptionGroup var lab: LabOptions
    @Option(help: ArgumentHelp("Domain counts, comma-separated.", valueName: "n,n,...")) var domains = "100,1000"
    @Option(help: "Timed reconciliation passes per size.") var passes = 5
    @Option(help: ArgumentHelp("genidd's ledger: an SQLite file or a postgres:// URL (default: a new SQLite file per size).",
                               valueName: "path-or-url"))
    var ledger: String?
    @Flag(help: "Print JSON.") var json = false

    var sizes: [Int] { domains.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    func validate() throws {
        guard !sizes.isEmpty, sizes.count == domains.split(separator: ",").count, sizes.allSatisfy({ $0 > 0 }) else {
            throw ValidationError("--domains takes positive counts separated by commas, e.g. 100,1000")
        }
        guard passes >= 1 else { throw ValidationError("--passes must be at least 1") }
    }

    func run() async throws {
        try await runBenchmark(json: json, {
            try await FleetBenchmark(settings: lab.settings, sizes: sizes, passes: passes, ledger: ledger).run(progress: $0)
        }) { result in
            var lines = ["ledger  \(result.ledger)", "genidd  \(result.genidd)",
                         "domains  genidd Pss_Anon  libvirt client  own per domain  first pass  pass median"]
            for size in result.sizes {
                lines.append(String(format: "%7d  %11d KB  %11d KB  %11.2f KB  %8.2f s  %9.3f s", size.domains,
                                    size.geniddPssAnonKB, size.libvirtClientPssAnonKB, size.ownKBPerDomain,
                                    size.firstPassSeconds, size.passMedianSeconds))
            }
            return lines.joined(separator: "\n")
        }
    }
}

struct LoadBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "genidd under a burst of libvirt lifecycle events while clients poll it (libvirt's test driver).",
        discussion: """
            A private libvirtd serving libvirt's test driver (so that genidd's
            connection sees the events the benchmark's connection causes);
            --domains running domains with a <genid> and a running snapshot
            each; genidd on them; then starts, snapshot reverts, defines of
            copied XML and undefines until they caused --events events, while
            --pollers clients ask genidd for status and history. Every event
            libvirt sent must be decided by genidd exactly once (its debug log's
            'decided' lines against the benchmark's own connection). Reports
            events per second, decision latency (median, p99), the ledger's
            check (genidctl history --check) and genidd's resident memory
            before, at the peak and after. No guest boots; genidd is the
            binary next to genid-lab (or $GENID_GENIDD).

            Examples:
              genid-lab bench load --domains 20 --events 400
            """
    )
    @OptionGroup var lab: LabOptions
    @Option(help: "Running domains, each with a running snapshot.") var domains = 1000
    @Option(help: "Lifecycle events the benchmark's operations cause.") var events = 10000
    @Option(help: "Clients polling genidd (status and history, alternately).") var pollers = 2
    @Option(help: "Bursts, one after another (memory that grows from one to the next is kept).") var bursts = 1
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard domains >= 1, events >= 1 else { throw ValidationError("--domains and --events must be at least 1") }
        guard pollers >= 0 else { throw ValidationError("--pollers must not be negative") }
        guard bursts >= 1 else { throw ValidationError("--bursts must be at least 1") }
    }

    func run() async throws {
        try await runBenchmark(json: json, {
            try await LoadBenchmark(settings: lab.settings, domains: domains, events: events, pollers: pollers,
                          bursts: bursts).run(progress: $0)
        }) { result in
            let operations = result.operations.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
            let outcomes = result.outcomes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
            let polls = result.polls.sorted { $0.key < $1.key }.map { command, count in
                let latency = result.pollMilliseconds[command]
                return String(format: "%@ %d (median %.0f ms, p99 %.0f ms)", command, count,
                              latency?.median ?? .nan, latency?.p99 ?? .nan)
            }
            return """
                domains                    \(result.domains)
                operations                 \(operations.joined(separator: ", "))
                events witnessed           \(result.eventsWitnessed) (\(result.eventsCausedByGenidd) by genidd's own writes)
                events decided             \(result.eventsDecided) (\(outcomes.joined(separator: ", ")))
                lost / decided twice       \(result.eventsLost) / \(result.eventsDecidedTwice)
                """ + "\n" + String(format: """
                burst                      %.1f s (until the last operation returned)
                drain                      %.1f s (until the last decision)
                events per second          %.0f (decided / drain)
                decision latency           median %.2f ms, p99 %.2f ms, max %.2f ms (delivered to genidd to decided)
                  queued                   median %.2f ms, p99 %.2f ms (until genidd took it off its stream)
                  deciding                 median %.2f ms, p99 %.2f ms
                """, result.burstSeconds, result.drainSeconds, result.eventsPerSecond,
                result.decisionMilliseconds.median, result.decisionMilliseconds.p99, result.decisionMilliseconds.max,
                result.queued.median, result.queued.p99, result.deciding.median, result.deciding.p99) + "\n" + """
                polls                      \(polls.joined(separator: "; ")); failures: \
                \(result.pollFailures.isEmpty ? "none" : result.pollFailures.joined(separator: "; "))
                ledger                     \(result.ledgerConsistent ? "consistent" : "NOT CONSISTENT"): \(result.ledgerCheck) \
                (\(result.ledgerRecords) lines of genidctl history)
                genidd RSS                 baseline \(result.rssBaselineKB) KB, peak \(result.rssPeakKB) KB, \
                after \(result.rssAfterKB) KB
                """ + (result.bursts.count < 2 ? "" : "\n" + result.bursts.enumerated().map { index, burst in
                    String(format: "  burst %d                  %.0f events/s, RSS peak %d KB, after %d KB", index + 1,
                           burst.eventsPerSecond, burst.rssPeakKB, burst.rssAfterKB)
                }.joined(separator: "\n"))
        }
    }
}
