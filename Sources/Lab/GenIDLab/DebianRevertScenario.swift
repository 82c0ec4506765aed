import AgentProtocol
import Foundation
import GenIDControl
import VMGenID

/// Scenario `debian-revert`: the Debian guest under libvirt with genidd; a
/// running snapshot, then N `genidctl revert`s through genidd. Each must be
/// a new generation that the module's readers see (the agent's three and
/// the image's static, unprivileged mmap reader), the image's two
/// generation hooks must run exactly once for it, in order, and genidd's
/// `wait-ready` must return only after the slow hook finished.
public struct DebianRevertScenario: Sendable {
    public let settings: LabSettings
    public let count: Int
    static let snapshotName = "genid-lab-base"

    public init(settings: LabSettings, count: Int) {
        self.settings = settings
        self.count = count
    }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async -> LabReport {
        await LibvirtScenarioContext.report(scenario: "debian-revert", settings: settings, debian: true,
                                            progress: progress) { context in
            let shared = context
            let count = self.count
            try await context.withBootedDomain { domain, report in
                report.checkDebianSystem(try await domain.waitForSystemd())
                let baseline = try await domain.observe()
                report.baselineGuid = baseline.value?.description
                try await runBlocking { try domain.domain.createSnapshot(named: Self.snapshotName) }
                progress("snapshot taken; \(count) reverts through genidd")
                let genidctl = LabGenidd.genidctlPath
                var seen: [GenerationID] = baseline.value.map { [$0] } ?? []
                for index in 1...count {
                    let label = "after revert \(index)"
                    let consoleBefore = domain.consoleText().utf8.count
                    let output = try await runBlocking {
                        try Subprocess.check([genidctl, "revert", domain.name, Self.snapshotName, "--json",
                                              "--socket", shared.genidd.socketPath])
                    }
                    let response = try ControlCoding.decode(ControlResponse.self, from: Data(output.utf8))
                    let written = try response.rotation.flatMap { GenerationID($0.value) }
                        ?? { throw LabError.agentProtocol("genidctl revert gave no value: \(output)") }()
                    try await domain.reconnectAgent()
                    let ready = try await shared.waitReady(domain)
                    // What the console held when wait-ready returned.
                    let console = domain.consoleText()
                    let after = try await domain.observeChange(after: baseline)
                    await report.checkNewGeneration(label: label, guest: after, baseline: baseline,
                                                    libvirtValue: written.description, domain: domain.name,
                                                    seen: seen, ledger: shared.ledger)
                    report.check("wait-ready returned for the guest's value \(label)",
                                 ready.value == after.value?.description,
                                 "genidd: \(ready.value) after \(Int(ready.waitedMilliseconds)) ms")
                    let hooks = DebianHookLine.all(in: console).filter { $0.value == written.description }
                    let slowDone = hooks.contains { $0.hook == DebianHookLine.hooks.last && $0.phase == "done" }
                    report.check("wait-ready returned only after the slowest hook finished \(label)", slowDone,
                                 "hook lines for \(written) when it returned: \(hooks.map { "\($0.hook) \($0.phase)" })")
                    let newCounters = MmapCounterLine.all(in: String(decoding: console.utf8.dropFirst(consoleBefore), as: UTF8.self))
                    report.check("the static mmap reader (unprivileged) saw the new counter \(label)",
                                 newCounters.contains { $0.uid != 0 && $0.counter == after.sysgenidCounter },
                                 "guest counter \(after.sysgenidCounter.map(String.init) ?? "?"); reader printed "
                                 + newCounters.map { "uid \($0.uid) counter \($0.counter)" }.joined(separator: ", "))
                    report.restores.append(.init(host: written.description, baseline: baseline, after: after,
                                                 observedChange: after.kernelVMForkCount.map { $0 > (baseline.kernelVMForkCount ?? 0) },
                                                 elapsedMs: response.rotation?.pauseMilliseconds))
                    if let value = after.value { seen.append(value) }
                    progress("revert \(index): guest sees \(after.value?.description ?? "nothing"), "
                             + "ready after \(Int(ready.waitedMilliseconds)) ms")
                }
                // Every hook exactly once per generation, in name order, and never for the boot value.
                let lines = DebianHookLine.all(in: domain.consoleText())
                for value in seen.dropFirst().map(\.description) {
                    let runs = lines.filter { $0.value == value }.map { "\($0.hook) \($0.phase)" }
                    let expected = DebianHookLine.hooks.flatMap { ["\($0) start", "\($0) done"] }
                    report.check("the hooks ran once each, in name order, for \(value)", runs == expected,
                                 runs.joined(separator: ", "))
                }
                let boot = baseline.value?.description ?? "-"
                report.check("no hook ran for the value the guest booted with", !lines.contains { $0.value == boot },
                             "\(lines.filter { $0.value == boot }.count) line(s)")
                try await runBlocking { try domain.domain.deleteSnapshot(named: Self.snapshotName) }
            }
        }
    }
}
