import Foundation
import GenIDHost
import VMGenID

/// Scenarios `vmclock-revert` and `vmclock-revert-unprotected`: a guest with
/// QEMU's `-device vmclock` (QEMU >= 10, Linux >= 7.0 guest), reverted N
/// times to one snapshot, through genid or with plain stop/loadvm/cont.
/// Judged by an unprivileged program in the guest that maps `/dev/vmclock0`
/// read-only and follows its sequence counter (`sysgenidctl vmclock
/// --follow`, started by the lab's init as uid 65534).
public struct VMClockRevertScenario: Sendable {
    public let settings: LabSettings
    public let count: Int
    /// false: plain loadvm, after which stock QEMU leaves the counter as it was.
    public let protected: Bool
    static let snapshotName = "genid-lab-vmclock"

    public init(settings: LabSettings, count: Int, protected: Bool) {
        self.settings = settings
        self.count = count
        self.protected = protected
    }

    public var name: String { protected ? "vmclock-revert" : "vmclock-revert-unprotected" }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async -> LabReport {
        await ScenarioContext.report(scenario: name, settings: settings, provider: nil, progress: progress) { context in
            try VMClockRevertScenario.requireVMClockDevice()
            context.vmclock = true
            let ledger = context.ledger
            try await context.withBootedMachine { machine, report in
                let vm = try await machine.attach(name: ScenarioContext.vmName(machine))
                let rotator = Rotator(vm: vm, store: ledger)
                let baseline = try await machine.observe()
                report.baselineGuid = baseline.value?.description
                guard let boot = baseline.vmclockCounters?.last else {
                    report.check("the guest has /dev/vmclock0 and its unprivileged reader runs", false,
                                 "no VMClock reading from the guest (needs QEMU >= 10 and a guest kernel with "
                                    + "ptp_vmclock, Linux >= 7.0)")
                    return
                }
                report.check("the guest's VMClock reader runs unprivileged", (baseline.vmclockReaderUID ?? 0) != 0,
                             "uid \(baseline.vmclockReaderUID.map(String.init) ?? "?")")
                report.check("genid maintains the VMClock page of this QEMU",
                             vm.signals.contains { $0.name == "vmclock" }, vm.signals.map(\.name).joined(separator: ", "))
                try await ledger.record(try await vm.qemuValue(), for: vm.identity, role: .live, event: "boot",
                                        detail: nil, origin: .observed)
                try await rotator.snapshot(named: VMClockRevertScenario.snapshotName)
                progress("snapshot taken (counter \(boot)); \(count) reverts "
                            + (protected ? "through genid" : "with plain loadvm"))
                var seen: [UInt64] = [boot]
                var before = baseline
                for index in 1...count {
                    let (host, elapsed) = try await revert(vm: vm, rotator: rotator)
                    let after = protected
                        ? try await machine.observeVMClockChange(notAmong: seen)
                        : try await machine.observeAfterSettling()
                    let counter = after.vmclockCounters?.last
                    judge(&report, index: index, host: host, counter: counter, flags: after.vmclockFlags, seen: seen)
                    report.restores.append(.init(host: host?.description, baseline: before, after: after,
                                                 observedChange: counter != seen.last, elapsedMs: elapsed))
                    if let counter { seen.append(counter) }
                    before = after
                    progress("revert \(index): the guest's reader sees counter \(counter.map(String.init) ?? "nothing")")
                }
                let times = report.restores.compactMap(\.elapsedMs).sorted()
                report.timingsMs["revert_median"] = times[times.count / 2]
            }
        }
    }

    /// QEMU before 10 has no vmclock device; say so instead of letting QEMU
    /// refuse its command line.
    static func requireVMClockDevice() throws {
        let devices = try Subprocess.run([ChildProcess.qemuExecutable, "-device", "help"])
        guard devices.standardOutput.contains("name \"vmclock\"") else {
            let version = (try? Subprocess.run([ChildProcess.qemuExecutable, "--version"]))?.standardOutput
                .split(separator: "\n").first.map(String.init) ?? "this QEMU"
            throw LabError.invalidArgument("\(version) has no vmclock device (QEMU >= 10 has it): run the scenario "
                + "on the newer stack, e.g. 'qemu/newer-stack run .build/debug/genid-lab scenario vmclock-revert "
                + "--kernel 7.3'")
        }
    }

    /// One revert; returns the value genid gave (nil for a plain loadvm)
    /// and the stop-to-cont time in milliseconds.
    private func revert(vm: AttachedVM, rotator: Rotator) async throws -> (GenerationID?, Double) {
        if protected {
            let rotation = try await rotator.revert(to: VMClockRevertScenario.snapshotName)
            return (rotation.value, rotation.totalMilliseconds)
        }
        return (nil, try await PlainRevert(vm: vm).run(to: VMClockRevertScenario.snapshotName))
    }

    private func judge(_ report: inout LabReport, index: Int, host: GenerationID?, counter: UInt64?, flags: UInt64?,
                       seen: [UInt64]) {
        let counterText = counter.map(String.init) ?? "nothing"
        let present = (flags ?? 0) & VMClockSignal.vmGenerationCounterPresent != 0
        if protected, let host {
            let expected = VMClockSignal.counter(for: host)
            report.check("the guest's reader sees the counter genid wrote after revert \(index)", counter == expected,
                         "guest \(counterText), genid \(expected) (from \(host))")
            report.check("the counter was never seen before after revert \(index)",
                         counter != nil && !seen.contains(counter!), "\(counterText); earlier: "
                            + seen.map(String.init).joined(separator: ", "))
            report.check("VM_GEN_COUNTER_PRESENT is set after revert \(index)", present,
                         "flags 0x\(String(flags ?? 0, radix: 16))")
        } else {
            report.check("the counter is the snapshot's again after plain loadvm \(index) (stock QEMU)",
                         counter == seen.first, "guest \(counterText), snapshot \(seen.first.map(String.init) ?? "?")")
            report.check("VM_GEN_COUNTER_PRESENT stays clear after plain loadvm \(index)", !present,
                         "flags 0x\(String(flags ?? 0, radix: 16))")
        }
    }
}
