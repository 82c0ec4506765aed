import GuestAgent
import Foundation
import GenIDHost
import VMGenID

/// Scenarios `qemu-revert` and `qemu-revert-unprotected`: N reverts of one
/// internal snapshot in the same QEMU process, through genid's rotation or
/// through plain stop/loadvm/cont, judged from inside the guest.
public struct QEMURevertScenario: Sendable {
    public let settings: LabSettings
    public let count: Int
    /// false: plain loadvm, which the guest must *not* notice (the bug).
    public let protected: Bool
    /// The guest's sysgenid provider, whose readers must see every revert.
    public var provider: SysGenIDABIScenario.Provider
    static let snapshotName = "genid-lab-base"

    public init(settings: LabSettings, count: Int, protected: Bool, provider: SysGenIDABIScenario.Provider = .userspace) {
        self.settings = settings
        self.count = count
        self.protected = protected
        self.provider = provider
    }

    public var name: String { protected ? "qemu-revert" : "qemu-revert-unprotected" }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async -> LabReport {
        await ScenarioContext.report(scenario: name, settings: settings, provider: protected ? provider : nil,
                                     progress: progress) { context in
            let ledger = context.ledger
            try await context.withBootedMachine { machine, report in
                let vm = try await machine.attach(name: ScenarioContext.vmName(machine))
                let rotator = Rotator(vm: vm, store: ledger)
                let baseline = try await machine.observe()
                report.baselineGuid = baseline.value?.description
                if protected { report.checkProvider(provider, baseline) }
                try await ledger.record(try await vm.qemuValue(), for: vm.identity, role: .live, event: "boot",
                                  detail: nil, origin: .observed)
                try await rotator.snapshot(named: QEMURevertScenario.snapshotName)
                progress("snapshot taken; \(count) reverts \(protected ? "through genid" : "with plain loadvm")")
                var seen: [GenerationID] = baseline.value.map { [$0] } ?? []
                for index in 1...count {
                    let (hostValue, elapsed) = try await revert(vm: vm, rotator: rotator)
                    let after = protected
                        ? try await machine.observeChange(after: baseline)
                        : try await machine.observeAfterSettling()
                    judge(&report, index: index, host: hostValue, baseline: baseline, after: after, seen: seen)
                    report.restores.append(.init(host: hostValue.description, baseline: baseline, after: after,
                                                 observedChange: after.forked(since: baseline), elapsedMs: elapsed))
                    if let value = after.value { seen.append(value) }
                    progress("revert \(index): guest sees \(after.value?.description ?? "nothing")")
                }
                let times = report.restores.compactMap(\.elapsedMs).sorted()
                report.timingsMs["revert_median"] = times[times.count / 2]
            }
        }
    }

    /// One revert; returns the value the host gave (genid) or left (plain)
    /// and the stop-to-cont time in milliseconds.
    private func revert(vm: AttachedVM, rotator: Rotator) async throws -> (GenerationID, Double) {
        if protected {
            let rotation = try await rotator.revert(to: QEMURevertScenario.snapshotName)
            return (rotation.value, rotation.totalMilliseconds)
        }
        let elapsed = try await PlainRevert(vm: vm).run(to: QEMURevertScenario.snapshotName)
        return (try vm.guestMemoryValue(), elapsed)
    }

    private func judge(_ report: inout LabReport, index: Int, host: GenerationID, baseline: GuestObservation,
                       after: GuestObservation, seen: [GenerationID]) {
        let guest = after.value
        let observed = after.forked(since: baseline)
        let guestText = guest?.description ?? (after.valueError ?? "nothing")
        if protected {
            report.check("guest GUID equals host GUID after restore \(index)", guest == host,
                         "guest \(guestText), host \(host)")
            report.check("guest GUID differs from the baseline and every earlier one after restore \(index)",
                         guest != nil && !seen.contains(guest!), "guest \(guestText)")
            report.check("guest kernel processed the change after restore \(index)", observed == true,
                         "vmfork log lines \(baseline.kernelVMForkCount.map(String.init) ?? "?") -> "
                            + (after.kernelVMForkCount.map(String.init) ?? "?"))
            if let before = baseline.sysgenidCounter {
                report.check("sysgenid counter moved up after restore \(index)",
                             (after.sysgenidCounter ?? before) > before,
                             "\(before) -> \(after.sysgenidCounter.map(String.init) ?? "?")")
            }
            report.checkReaders(after: after, baseline: baseline, label: "after restore \(index)")
        } else {
            report.check("guest still sees the baseline GUID after plain loadvm \(index) (rollback invisible)",
                         guest != nil && guest == baseline.value, "guest \(guestText)")
            report.check("guest kernel did not notice plain loadvm \(index)", observed == false,
                         "vmfork log lines \(baseline.kernelVMForkCount.map(String.init) ?? "?") -> "
                            + (after.kernelVMForkCount.map(String.init) ?? "?"))
        }
    }
}
