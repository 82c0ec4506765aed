import Foundation
import GenIDControl
import GenIDDaemon
import GenerationStore
import QMP
import VMGenID

/// Scenario `hostile-guest`: guest root rewrites its own RSDP, root table,
/// VMGENID SSDT and `VGIA` to steer genid's reads and its one write
/// (`HostileCase`), then genid is asked for a new generation. Each time
/// genid must refuse in one line naming why, write nothing (every byte of
/// guest RAM is compared before and after), leave the VM paused, and QEMU
/// must still answer. Then, with the firmware's tables back, genid rotates
/// the same guest and the guest sees the new value: the layout is one genid
/// works on, and the refusals came from the tables alone.
///
/// The VM is paused before the hostile bytes go in and until they are taken
/// out again (genid's own `stop` is then a no-op): the guest never runs on
/// them, and its RAM holds still, so that "nothing written" is exact.
public struct HostileGuestScenario: Sendable {
    public static let name = "hostile-guest"

    /// The machine: where guest RAM is split into blocks and holes.
    public enum Layout: String, Sendable, CaseIterable {
        /// q35 with two NUMA nodes of 256 MiB, each its own RAM block.
        case numa
        /// i440fx `pc` with 3.5 GiB: 3 GiB below 4 GiB, the PCI hole, 512 MiB from 4 GiB.
        case pc

        var machineType: String { self == .pc ? "pc" : "q35" }
        var memoryMiB: Int { self == .pc ? 3584 : 512 }
        var nodesMiB: [Int] { self == .numa ? [256, 256] : [] }
    }

    /// Which genid is asked.
    public enum Path: String, Sendable, CaseIterable {
        /// `genidctl qemu rotate` and `revert` on a plain QEMU (private RAM
        /// per NUMA node; the pc machine's shared file too).
        case genidctl
        /// `genidctl rotate` and `revert` through genidd, on a libvirt domain
        /// (`<cell>`s for NUMA; guest RAM in a memfd per cell).
        case genidd
    }

    public let settings: LabSettings
    public let layout: Layout
    public let path: Path
    /// Only these cases (`HostileCase.name`); all when empty.
    public var cases: [String]

    public init(settings: LabSettings, layout: Layout, path: Path, cases: [String] = []) {
        self.settings = settings
        self.layout = layout
        self.path = path
        self.cases = cases
    }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async -> LabReport {
        let layout = self.layout, settings = self.settings
        let scenario = "\(Self.name)-\(layout.rawValue)-\(path.rawValue)"
        switch path {
        case .genidctl:
            return await ScenarioContext.report(scenario: scenario, settings: settings, provider: nil,
                                                progress: progress) { context in
                context.machine = {
                    $0.machineType = layout.machineType
                    $0.memoryMiB = layout.memoryMiB
                    $0.numaNodesMiB = layout.nodesMiB
                }
                try await context.withBootedMachine { machine, report in
                    let target = GenidctlTarget(machine: machine, pid: await machine.qemuPid, ledger: settings.ledgerPath)
                    try await play(on: target, report: &report, progress: progress)
                }
            }
        case .genidd:
            return await LibvirtScenarioContext.report(scenario: scenario, settings: settings,
                                                       progress: progress) { context in
                let (genidd, ledger) = (context.genidd, context.ledger)
                try await context.withBootedDomain(configure: {
                    $0.machineType = layout.machineType
                    $0.memoryMiB = layout.memoryMiB
                    $0.numaCellsMiB = layout.nodesMiB
                }) { domain, report in
                    guard let pid = domain.qemuPid() else { throw LabError.hostileGuest("the domain's QEMU has no pid") }
                    let target = GeniddTarget(domain: domain, pid: pid, genidd: genidd, ledger: ledger)
                    try await play(on: target, report: &report, progress: progress)
                }
            }
        }
    }

    private func play(on target: some HostileGuestTarget, report: inout LabReport,
                      progress: @escaping @Sendable (String) -> Void) async throws {
        let baseline = try await target.guest.observe()
        report.baselineGuid = baseline.value?.description
        let ram = try await HostileGuestRAM.open(pid: target.pid, monitor: try await target.monitor())
        let targets = try HostileTargets(map: ram.map)
        checkLayout(ram.map, targets, report: &report)
        let tables = try GuestACPITables.read(from: ram.memory)
        let value = try ram.read(at: tables.pageAddress + VMGenIDTable.valueOffset, count: VMGenIDTable.valueLength)
        let chosen = HostileCase.all(tables, targets, deviceValue: value).filter { cases.isEmpty || cases.contains($0.name) }
        guard !chosen.isEmpty else { throw LabError.invalidArgument("no case named \(cases.joined(separator: ", "))") }
        for hostile in chosen {
            progress("\(hostile.name): \(hostile.what)")
            let started = ContinuousClock.now
            try await refuses(hostile, target: target, ram: ram, report: &report)
            report.timingsMs[hostile.name] = (ContinuousClock.now - started).milliseconds
        }

        // The firmware's tables again: genid must work on this very guest.
        let rotated = try await target.rotate()
        let after = try await target.guest.observeChange(after: baseline)
        report.check("with its own tables back, genid rotates the guest and it sees the new value",
                     after.value == rotated && after.forked(since: baseline) == true,
                     "genid gave \(rotated), the guest sees \(after.value?.description ?? after.valueError ?? "nothing")")
    }

    /// One case: write it into the paused guest, ask genid, check, put the
    /// firmware's bytes back, resume.
    private func refuses(_ hostile: HostileCase, target: some HostileGuestTarget, ram: HostileGuestRAM,
                         report: inout LabReport) async throws {
        let label = hostile.name
        _ = try await target.monitor().execute("stop")
        let saved = try hostile.writes.flatMap(ram.saved)
        for bytes in hostile.writes { try ram.write(bytes) }
        let before = try ram.checksum()
        let records = try await target.recordsBefore()
        let answers = try await target.ask(label: label)
        for answer in answers {
            let lines = answer.errors.split(whereSeparator: \.isNewline)
            report.check("\(label): \(answer.how) is refused in one line naming why",
                         answer.status != 0 && lines.count == 1 && answer.errors.contains(hostile.reason),
                         answer.status == 0 ? "it succeeded: \(answer.output)" : answer.errors
                            + " (expected a reason with '\(hostile.reason)')")
        }
        let monitor = try await target.monitor()
        let state = try await monitor.execute("query-status")["status"]?.stringValue ?? "unknown"
        report.check("\(label): the VM is left paused", state == "paused", "run state \(state)")
        let info = (try? await monitor.humanMonitorCommand("info status")) ?? ""
        report.check("\(label): QEMU still answers QMP and HMP", kill(target.pid, 0) == 0 && info.contains("VM status"),
                     "HMP info status: \(info.trimmingCharacters(in: .whitespacesAndNewlines))")
        if state == "paused" {
            let changed = try ram.checksum().changedChunks(since: before)
            report.check("\(label): no byte of guest RAM changed", changed.isEmpty,
                         "\(before.bytes >> 20) MiB compared; changed: "
                            + (changed.isEmpty ? "none" : changed.map { "\(RAMChecksum.chunk >> 20) MiB at \(hex($0))" }
                                .joined(separator: ", ")))
        } else {
            report.check("\(label): no byte of guest RAM changed", false, "genid resumed the VM: the guest ran since")
            _ = try await monitor.execute("stop")
        }
        await target.checkRecords(of: hostile, requests: answers.count, since: records, report: &report)
        for bytes in saved.reversed() { try ram.write(bytes) }
        _ = try await monitor.execute("cont")
    }

    /// The layout the scenario claims is the one QEMU made.
    private func checkLayout(_ map: QEMUMemoryMap, _ targets: HostileTargets, report: inout LabReport) {
        let blocks = Set(map.guestRAM.map(\.name))
        let description = "RAM blocks \(blocks.sorted().joined(separator: ", ")); the first ends at "
            + "\(hex(targets.blockEnd)), then \(targets.pastBlockEnd); PCI hole at \(hex(targets.hole.start)) "
            + "(\(targets.hole.name))"
        switch layout {
        case .numa:
            report.check("QEMU's map has a RAM block per NUMA node, the second right after the first",
                         blocks.count == 2 && targets.pastBlockEnd.hasPrefix("RAM block"), description)
        case .pc:
            report.check("QEMU's map has 3 GiB of RAM below 4 GiB, the PCI hole, RAM above 4 GiB",
                         targets.blockEnd == 3 << 30 && map.guestRAM.contains { $0.start == HostileTargets.fourGiB },
                         description)
        }
    }
}

/// What genid answered to one request.
struct GenidAnswer: Sendable {
    /// The command, for the report: "genidctl qemu rotate --pid".
    let how: String
    let status: Int32
    let output: String
    let errors: String
}

/// How the scenario reaches the VM and asks genid, on one path.
protocol HostileGuestTarget: Sendable {
    associatedtype Records: Sendable
    var guest: any AgentAsking { get }
    var pid: pid_t { get }
    /// QEMU's monitor for the lab's own commands.
    func monitor() async throws -> any QEMUMonitor
    /// Asks genid for a new generation of the paused VM in every way this
    /// path has, a snapshot of the hostile state included.
    func ask(label: String) async throws -> [GenidAnswer]
    /// Where genid's own records stand before it is asked.
    func recordsBefore() async throws -> Records
    /// What genid recorded of the `requests` refusals besides its answers.
    func checkRecords(of hostile: HostileCase, requests: Int, since: Records, report: inout LabReport) async
    /// A rotation that must succeed; the value genid gave.
    func rotate() async throws -> GenerationID
}

extension HostileGuestTarget {
    /// Takes an internal snapshot of the paused VM (the hostile tables in
    /// it), runs `body` and deletes the snapshot.
    func withSnapshot<T>(_ name: String, _ body: () async throws -> T) async throws -> T {
        try await hmp("savevm \(name)")
        let result = try await body()
        try await hmp("delvm \(name)")
        return result
    }

    private func hmp(_ command: String) async throws {
        let output = try await monitor().humanMonitorCommand(command).trimmingCharacters(in: .whitespacesAndNewlines)
        guard output.isEmpty else { throw LabError.commandFailed(command: command, status: 1, output: output) }
    }

    /// Runs genidctl (next to genidd) with `arguments`.
    static func genidctl(_ how: String, _ arguments: [String]) async throws -> GenidAnswer {
        let output = try await runBlocking { try Subprocess.run([LabGenidd.genidctlPath] + arguments) }
        return GenidAnswer(how: how, status: output.status, output: output.standardOutput,
                           errors: output.standardError.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

/// genidctl's qemu verbs on a plain QEMU booted by the lab, which lets go of
/// QMP while genidctl holds it (QEMU serves one client).
struct GenidctlTarget: HostileGuestTarget {
    let machine: Machine
    let pid: pid_t
    let ledger: String
    var guest: any AgentAsking { machine }

    func monitor() async throws -> any QEMUMonitor { try await machine.connectQMP() }

    private var arguments: [String] {
        ["--qmp", machine.directory.qmpSocket, "--name", ScenarioContext.vmName(machine), "--ledger", ledger]
    }

    func ask(label: String) async throws -> [GenidAnswer] {
        let snapshot = "hostile-\(label)"
        return try await withSnapshot(snapshot) {
            await machine.closeQMP()
            var sources = [("--pid", ["--pid", "\(pid)"])]
            if machine.configuration.numaNodesMiB.isEmpty {
                sources.append(("--ram-file", ["--ram-file", machine.directory.ramFile]))
            }
            var answers: [GenidAnswer] = []
            for (how, source) in sources {
                answers.append(try await Self.genidctl("genidctl qemu rotate \(how)",
                                                       ["qemu", "rotate"] + arguments + source))
                answers.append(try await Self.genidctl("genidctl qemu revert \(how)",
                                                       ["qemu", "revert", snapshot] + arguments + source))
            }
            return answers
        }
    }

    func recordsBefore() async throws {}

    func checkRecords(of hostile: HostileCase, requests: Int, since: Void, report: inout LabReport) async {}

    func rotate() async throws -> GenerationID {
        await machine.closeQMP()
        let answer = try await Self.genidctl("genidctl qemu rotate", ["qemu", "rotate", "--pid", "\(pid)", "--json"] + arguments)
        let fields = (try? JSONSerialization.jsonObject(with: Data(answer.output.utf8))) as? [String: String]
        guard answer.status == 0, let value = fields?["value"].flatMap(GenerationID.init) else {
            throw LabError.commandFailed(command: answer.how, status: answer.status, output: answer.errors)
        }
        return value
    }
}

/// genidd on a libvirt domain, asked through genidctl; the lab's own
/// commands go through libvirt's monitor passthrough, as genidd's do.
struct GeniddTarget: HostileGuestTarget {
    let domain: LabDomain
    let pid: pid_t
    let genidd: LabGenidd
    let ledger: any GenerationStore
    var guest: any AgentAsking { domain }

    func monitor() async throws -> any QEMUMonitor { LibvirtMonitor(domain: domain.domain) }

    func ask(label: String) async throws -> [GenidAnswer] {
        let snapshot = "hostile-\(label)"
        let socket = ["--socket", genidd.socketPath]
        return try await withSnapshot(snapshot) {
            [try await Self.genidctl("genidctl rotate (genidd)", ["rotate", domain.name] + socket),
             try await Self.genidctl("genidctl revert (genidd)", ["revert", domain.name, snapshot] + socket)]
        }
    }

    /// The newest audit row's id, and how long genidd's log is.
    func recordsBefore() async throws -> (audit: Int64, log: Int) {
        (try await ledger.auditTrail(vm: domain.name, limit: 1).first?.id ?? 0, genidd.log(lines: 100_000).count)
    }

    func checkRecords(of hostile: HostileCase, requests: Int, since: (audit: Int64, log: Int),
                      report: inout LabReport) async {
        let label = hostile.name
        let rows = ((try? await ledger.auditTrail(vm: domain.name, limit: 10)) ?? []).filter { $0.id > since.audit }
        report.check("\(label): genidd's audit trail has each refusal and why",
                     rows.count == requests && rows.allSatisfy { $0.kind == "rotation-failed" && $0.message.contains(hostile.reason) },
                     rows.map { "\($0.kind): \($0.message)" }.joined(separator: " | "))
        let status = try? genidd.send(ControlRequest(command: .status, domain: domain.name)).status?.first
        report.check("\(label): genidctl status shows why", status?.lastError?.contains(hostile.reason) == true,
                     "last error: \(status?.lastError ?? "none")")
        let log = String(genidd.log(lines: 100_000).dropFirst(since.log))
        let lines = log.split(whereSeparator: \.isNewline).filter { $0.contains(hostile.reason) }
        report.check("\(label): genidd's log says why", !lines.isEmpty,
                     lines.first.map(String.init) ?? "no line with '\(hostile.reason)'")
    }

    func rotate() async throws -> GenerationID {
        let answer = try await Self.genidctl("genidctl rotate", ["rotate", domain.name, "--json", "--socket", genidd.socketPath])
        let response = try? ControlCoding.decode(ControlResponse.self, from: Data(answer.output.utf8))
        guard answer.status == 0, let value = response?.rotation.flatMap({ GenerationID($0.value) }) else {
            throw LabError.commandFailed(command: answer.how, status: answer.status, output: answer.errors + answer.output)
        }
        return value
    }
}
