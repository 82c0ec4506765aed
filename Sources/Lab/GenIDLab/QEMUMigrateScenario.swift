import Foundation
import GenIDHost
import VMGenID

/// Scenarios `qemu-migrate` and `qemu-migrate-unprotected`: a guest booted
/// with a fixed value (as libvirt starts QEMU) is given a new one by a genid
/// revert, then live-migrated to a second QEMU started with the same
/// command line. Through genid (`Migrator`) the guest must keep its value,
/// its sysgenid counter and its kernel's fork count; with QEMU's plain
/// migration it is shown its boot value again and reports a fork that did
/// not happen (the scenario passes when it demonstrates that).
public struct QEMUMigrateScenario: Sendable {
    public let settings: LabSettings
    public let protected: Bool
    static let snapshotName = "genid-lab-base"

    public init(settings: LabSettings, protected: Bool) {
        self.settings = settings
        self.protected = protected
    }

    public var name: String { protected ? "qemu-migrate" : "qemu-migrate-unprotected" }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async -> LabReport {
        await ScenarioContext.report(scenario: name, settings: settings, provider: .userspace,
                                     progress: progress) { context in
            let ledger = context.ledger
            let bootValue = GenerationID.random()
            context.initialGenerationID = bootValue
            let destinationConfiguration = context.configuration(incoming: true)
            let destinationLog = settings.consoleLogPath(scenario: "\(name)-destination",
                                                         release: context.image.kernel.release)
            try await context.withBootedMachine { source, report in
                let vm = try await source.attach(name: ScenarioContext.vmName(source))
                let rotator = Rotator(vm: vm, store: ledger)
                let boot = try await source.observe()
                report.baselineGuid = boot.value?.description
                report.check("the guest booted with QEMU's fixed value", boot.value == bootValue,
                             "guest \(boot.value?.description ?? "nothing"), guid= \(bootValue)")
                try await ledger.record(bootValue, for: vm.identity, role: .live, event: "boot", detail: nil,
                                        origin: .observed)
                try await rotator.snapshot(named: QEMUMigrateScenario.snapshotName)
                let given = try await rotator.revert(to: QEMUMigrateScenario.snapshotName).value
                let before = try await source.observeChange(after: boot)
                report.check("after the genid revert the guest sees the new value", before.value == given,
                             "guest \(before.value?.description ?? "nothing"), genid \(given)")
                progress("the guest runs with \(given); migrating \(protected ? "through genid" : "with QEMU alone")")

                let after = try await withMachine(destinationConfiguration, runRoot: settings.runRoot,
                                                  keepConsoleLogAt: destinationLog) { destination in
                    let target = try await destination.attach(name: vm.name)
                    let uri = "unix:\(destination.directory.path)/migrate.sock"
                    if protected {
                        let migration = try await Migrator(source: vm, destination: target, store: ledger)
                            .migrate(uri: uri)
                        report.timingsMs["migration_total"] = migration.totalMilliseconds
                        report.timingsMs["destination_pause"] = migration.destinationPauseMilliseconds
                        report.check("the destination's device held the boot value genid replaced",
                                     migration.destinationDeviceValue == bootValue,
                                     "device \(migration.destinationDeviceValue), boot \(bootValue)")
                    } else {
                        _ = try await PlainMigration(source: vm, destination: target).run(uri: uri)
                    }
                    try await destination.waitForAgent(timeout: settings.agentTimeout)
                    // A fork would be processed within a moment of resuming:
                    // give it that moment in both modes, or wait for it.
                    return protected ? try await destination.observeAfterSettling()
                                     : try await destination.observeChange(after: before)
                }
                judge(&report, given: given, bootValue: bootValue, before: before, after: after)
                report.restores.append(.init(host: given.description, baseline: before, after: after,
                                             observedChange: after.forked(since: before), elapsedMs: nil))
                progress("after the migration the guest sees \(after.value?.description ?? "nothing")")
            }
        }
    }

    private func judge(_ report: inout LabReport, given: GenerationID, bootValue: GenerationID,
                       before: GuestObservation, after: GuestObservation) {
        let guest = after.value?.description ?? (after.valueError ?? "nothing")
        let forks = "vmfork lines \(before.kernelVMForkCount.map(String.init) ?? "?") -> "
            + (after.kernelVMForkCount.map(String.init) ?? "?")
        let counter = "sysgenid \(before.sysgenidCounter.map(String.init) ?? "?") -> "
            + (after.sysgenidCounter.map(String.init) ?? "?")
        if protected {
            report.check("after the migration the guest keeps its value", after.value == given,
                         "guest \(guest), before \(given)")
            report.check("the guest kernel reported no fork", after.forked(since: before) == false, forks)
            report.check("the sysgenid counter did not move",
                         after.sysgenidCounter != nil && after.sysgenidCounter == before.sysgenidCounter, counter)
        } else {
            report.check("without genid the guest is shown its boot value again", after.value == bootValue,
                         "guest \(guest), boot \(bootValue), before \(given)")
            report.check("and its kernel reports a fork that did not happen", after.forked(since: before) == true, forks)
        }
    }
}
