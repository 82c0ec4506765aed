import Foundation
import GenIDHost
import VMGenID

/// Scenario `qemu-restore`: one guest saved to a file, then N fresh QEMU
/// processes restored from it through genid; each must show the guest a
/// value of its own.
public struct QEMURestoreScenario: Sendable {
    public static let name = "qemu-restore"
    public let settings: LabSettings
    public let count: Int
    /// The guest's sysgenid provider, whose readers must see every restore.
    public var provider: SysGenIDABIScenario.Provider

    public init(settings: LabSettings, count: Int, provider: SysGenIDABIScenario.Provider = .userspace) {
        self.settings = settings
        self.count = count
        self.provider = provider
    }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async -> LabReport {
        await ScenarioContext.report(scenario: QEMURestoreScenario.name, settings: settings, provider: provider,
                                     progress: progress) { context in
            let stateDirectory = "\(settings.runRoot)/state-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            defer { try? FileManager.default.removeItem(atPath: stateDirectory) }
            try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
            let stateFile = "\(stateDirectory)/guest.state"
            let ledger = context.ledger
            let baseline = try await context.withBootedMachine { machine, report in
                let vm = try await machine.attach(name: ScenarioContext.vmName(machine))
                let baseline = try await machine.observe()
                report.baselineGuid = baseline.value?.description
                report.checkProvider(provider, baseline)
                try await ledger.record(try await vm.qemuValue(), for: vm.identity, role: .live, event: "boot",
                                  detail: nil, origin: .observed)
                try await Rotator(vm: vm, store: ledger).save(to: stateFile)
                progress("saved the guest state to \(stateFile)")
                return baseline
            }
            var seen: [GenerationID] = baseline.value.map { [$0] } ?? []
            for index in 1...count {
                let log = settings.consoleLogPath(scenario: "\(QEMURestoreScenario.name)-\(index)",
                                                  release: context.image.kernel.release)
                let (rotation, after) = try await context.withBootedMachine(incoming: true, consoleLog: log) {
                    machine, _ in
                    let vm = try await machine.attach(name: ScenarioContext.vmName(machine))
                    let rotation = try await Rotator(vm: vm, store: ledger).restore(from: stateFile)
                    try await machine.waitForAgent(timeout: settings.agentTimeout)
                    return (rotation, try await machine.observeChange(after: baseline))
                }
                let host = rotation.value
                let guestText = after.value?.description ?? (after.valueError ?? "nothing")
                let observed = after.forked(since: baseline)
                context.report.check("guest GUID equals host GUID after restore \(index)", after.value == host,
                                     "guest \(guestText), host \(host)")
                context.report.check("guest GUID differs from the baseline and every earlier one after restore \(index)",
                                     after.value.map { !seen.contains($0) } ?? false, "guest \(guestText)")
                context.report.check("guest kernel processed the change after restore \(index)", observed == true,
                                     "vmfork log lines \(baseline.kernelVMForkCount.map(String.init) ?? "?") -> "
                                        + (after.kernelVMForkCount.map(String.init) ?? "?"))
                context.report.checkReaders(after: after, baseline: baseline, label: "after restore \(index)")
                context.report.restores.append(.init(host: host.description, baseline: baseline, after: after,
                                                     observedChange: observed, elapsedMs: rotation.totalMilliseconds))
                if let value = after.value { seen.append(value) }
                progress("restore \(index): guest sees \(guestText)")
            }
        }
    }
}

/// Scenario `qemu-rotate`: a running guest is given a new generation on
/// demand, and notices.
public struct QEMURotateScenario: Sendable {
    public static let name = "qemu-rotate"
    public let settings: LabSettings
    /// The guest's sysgenid provider, whose readers must see the rotation.
    public var provider: SysGenIDABIScenario.Provider

    public init(settings: LabSettings, provider: SysGenIDABIScenario.Provider = .userspace) {
        self.settings = settings
        self.provider = provider
    }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async -> LabReport {
        await ScenarioContext.report(scenario: QEMURotateScenario.name, settings: settings, provider: provider,
                                     progress: progress) { context in
            let ledger = context.ledger
            try await context.withBootedMachine { machine, report in
                let vm = try await machine.attach(name: ScenarioContext.vmName(machine))
                let baseline = try await machine.observe()
                report.baselineGuid = baseline.value?.description
                report.checkProvider(provider, baseline)
                try await ledger.record(try await vm.qemuValue(), for: vm.identity, role: .live, event: "boot",
                                  detail: nil, origin: .observed)
                let rotation = try await Rotator(vm: vm, store: ledger).rotate()
                let after = try await machine.observeChange(after: baseline)
                let host = rotation.value
                let observed = after.forked(since: baseline)
                let guestText = after.value?.description ?? (after.valueError ?? "nothing")
                report.check("guest GUID equals host GUID after the rotation", after.value == host,
                             "guest \(guestText), host \(host)")
                report.check("guest GUID differs from the baseline", after.value != nil && after.value != baseline.value,
                             "baseline \(baseline.value?.description ?? "?"), now \(guestText)")
                report.check("guest kernel processed the change", observed == true,
                             "vmfork log lines \(baseline.kernelVMForkCount.map(String.init) ?? "?") -> "
                                + (after.kernelVMForkCount.map(String.init) ?? "?"))
                if let before = baseline.sysgenidCounter {
                    report.check("sysgenid counter moved up after the rotation", (after.sysgenidCounter ?? before) > before,
                                 "\(before) -> \(after.sysgenidCounter.map(String.init) ?? "?")")
                }
                report.checkReaders(after: after, baseline: baseline, label: "after the rotation")
                report.restores.append(.init(host: host.description, baseline: baseline, after: after,
                                             observedChange: observed, elapsedMs: rotation.totalMilliseconds))
            }
        }
    }
}
