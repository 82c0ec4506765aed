import Foundation
import Libvirt
import VMGenID

/// Scenarios `libvirt-revert` and `libvirt-restore`: N running snapshot
/// reverts (or N restores of one saved state file) through libvirt's API,
/// with genidd running; each must be a new generation, seen inside the
/// guest, recorded in the ledger, and acknowledged through `wait-ready`.
public struct LibvirtRevertScenario: Sendable {
    public enum Mode: String, Sendable { case revert, restore }

    public let settings: LabSettings
    public let mode: Mode
    public let count: Int
    /// Runs beside the reverts once the domain is up, and is cancelled at
    /// the end (the kill test kills and restarts genidd at random moments).
    /// genidd is running again when the checks of the last revert run.
    public var disturbance: (@Sendable (LabGenidd) async -> Void)?

    public init(settings: LabSettings, mode: Mode, count: Int) {
        self.settings = settings
        self.mode = mode
        self.count = count
    }

    public var name: String { "libvirt-\(mode.rawValue)" }
    static let snapshotName = "genid-lab-base"

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async -> LabReport {
        await LibvirtScenarioContext.report(scenario: name, settings: settings, progress: progress) { context in
            let shared = context
            try await context.withBootedDomain { domain, report in
                let baseline = try await domain.observe()
                report.baselineGuid = baseline.value?.description
                let stateFile = "\(domain.directory.path)/saved.state"
                switch mode {
                case .revert:
                    try await runBlocking { try domain.domain.createSnapshot(named: Self.snapshotName) }
                    progress("snapshot taken; \(count) running reverts through libvirt")
                case .restore:
                    try await runBlocking { try domain.domain.save(to: stateFile) }
                    progress("state saved; \(count) restores through libvirt")
                }
                var seen: [GenerationID] = baseline.value.map { [$0] } ?? []
                let disturbing = disturbance.map { disturb in Task { await disturb(shared.genidd) } }
                for index in 1...count {
                    if index == count, let disturbing {
                        disturbing.cancel()
                        await disturbing.value
                        if !shared.genidd.isRunning { try await shared.genidd.start() }
                    }
                    let clock = ContinuousClock()
                    let started = clock.now
                    switch mode {
                    case .revert:
                        try await runBlocking {
                            try domain.domain.revertToSnapshot(named: Self.snapshotName, options: [.running])
                        }
                    case .restore:
                        if index > 1 { try await runBlocking { try domain.domain.destroy() } }
                        try await runBlocking { try shared.connection.restore(from: stateFile) }
                    }
                    let elapsed = (clock.now - started).milliseconds
                    try await domain.reconnectAgent()
                    let after = try await domain.observeChange(after: baseline)
                    let libvirtValue = try domain.liveGenerationID()
                    let label = "after \(mode.rawValue) \(index)"
                    // Ready means genidd has recorded the value: ask first, then read the ledger.
                    let ready = try await shared.waitReady(domain)
                    await report.checkNewGeneration(label: label, guest: after, baseline: baseline, libvirtValue: libvirtValue,
                                              domain: domain.name, seen: seen, ledger: shared.ledger)
                    report.check("wait-ready returned for the guest's value \(label)",
                                 ready.value == after.value?.description,
                                 "genidd: \(ready.value) after \(Int(ready.waitedMilliseconds)) ms")
                    report.restores.append(.init(host: libvirtValue, baseline: baseline, after: after,
                                                 observedChange: after.kernelVMForkCount.map { $0 > (baseline.kernelVMForkCount ?? 0) },
                                                 elapsedMs: elapsed))
                    if let value = after.value { seen.append(value) }
                    progress("\(mode.rawValue) \(index): guest sees \(after.value?.description ?? "nothing")")
                }
                let times = report.restores.compactMap(\.elapsedMs).sorted()
                report.timingsMs["\(mode.rawValue)_median"] = times[times.count / 2]
                let duplicates = try? await shared.ledger.duplicateValues()
                report.check("no value twice in the ledger", duplicates?.isEmpty == true)
            }
        }
    }
}
