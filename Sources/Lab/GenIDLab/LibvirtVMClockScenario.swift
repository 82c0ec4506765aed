import Foundation
import GenIDControl
import Libvirt
import VMGenID

/// Scenario `libvirt-vmclock`: a libvirt domain with QEMU's `-device
/// vmclock` (through `<qemu:commandline>`: libvirt has no element for it),
/// a Linux >= 7.0 guest whose unprivileged reader follows `/dev/vmclock0`.
/// genidd's own state loads (`genidctl revert`, `genidctl rotate`) must
/// each give the guest a VM generation counter never seen before, with the
/// flag set; libvirt's own revert, which resumes the guest without a paused
/// window genid could write in, shows the snapshot's counter (the gap the
/// report names).
public struct LibvirtVMClockScenario: Sendable {
    public let settings: LabSettings
    public let count: Int
    static let snapshotName = "genid-lab-vmclock"

    public init(settings: LabSettings, count: Int) {
        self.settings = settings
        self.count = count
    }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async -> LabReport {
        await LibvirtScenarioContext.report(scenario: "libvirt-vmclock", settings: settings, progress: progress) { context in
            try VMClockRevertScenario.requireVMClockDevice()
            let shared = context
            let count = self.count
            try await context.withBootedDomain(configure: { $0.vmclock = true }) { domain, report in
                let baseline = try await domain.observe()
                report.baselineGuid = baseline.value?.description
                guard let boot = baseline.vmclockCounters?.last else {
                    report.check("the guest has /dev/vmclock0 and its unprivileged reader runs", false,
                                 "no VMClock reading from the guest (needs a guest kernel with ptp_vmclock, Linux >= 7.0)")
                    return
                }
                report.check("the guest's VMClock reader runs unprivileged", (baseline.vmclockReaderUID ?? 0) != 0,
                             "uid \(baseline.vmclockReaderUID.map(String.init) ?? "?")")
                try await runBlocking { try domain.domain.createSnapshot(named: Self.snapshotName) }
                let genidctl = (LabGenidd.executablePath as NSString).deletingLastPathComponent + "/genidctl"
                var seen: [UInt64] = [boot]
                var before = baseline
                // genidd's state loads: count reverts, then a rotation.
                for index in 1...(count + 1) {
                    let verb = index <= count ? ["revert", domain.name, Self.snapshotName] : ["rotate", domain.name]
                    let output = try await runBlocking {
                        try Subprocess.check([genidctl] + verb + ["--json", "--socket", shared.genidd.socketPath])
                    }
                    let response = try ControlCoding.decode(ControlResponse.self, from: Data(output.utf8))
                    let value = try response.rotation.flatMap { GenerationID($0.value) }
                        ?? { throw LabError.agentProtocol("genidctl \(verb[0]) gave no value: \(output)") }()
                    let after = try await domain.observeVMClockChange(notAmong: seen)
                    let counter = after.vmclockCounters?.last
                    let label = "genidctl \(verb[0]) \(index <= count ? String(index) : "")"
                        .trimmingCharacters(in: .whitespaces)
                    let expected = VMClockSignal.counter(for: value)
                    report.check("the guest's reader sees the counter genid wrote after \(label)", counter == expected,
                                 "guest \(counter.map(String.init) ?? "nothing"), genid \(expected) (from \(value))")
                    report.check("the counter was never seen before after \(label)",
                                 counter != nil && !seen.contains(counter!),
                                 "earlier: " + seen.map(String.init).joined(separator: ", "))
                    report.check("VM_GEN_COUNTER_PRESENT is set after \(label)",
                                 (after.vmclockFlags ?? 0) & VMClockSignal.vmGenerationCounterPresent != 0,
                                 "flags 0x\(String(after.vmclockFlags ?? 0, radix: 16))")
                    report.restores.append(.init(host: value.description, baseline: before, after: after,
                                                 observedChange: counter != before.vmclockCounters?.last,
                                                 elapsedMs: response.rotation?.pauseMilliseconds))
                    if let counter { seen.append(counter) }
                    before = after
                    progress("\(label): the guest's reader sees counter \(counter.map(String.init) ?? "nothing")")
                }
                // libvirt's own revert: QEMU restarts on the snapshot and runs at once.
                try await runBlocking { try domain.domain.revertToSnapshot(named: Self.snapshotName, options: [.running]) }
                try await domain.reconnectAgent()
                let reverted = try await domain.observeAfterSettling()
                report.check("libvirt's own revert leaves the snapshot's counter (no paused window for genid)",
                             reverted.vmclockCounters?.last == boot,
                             "guest \(reverted.vmclockCounters?.last.map(String.init) ?? "nothing"), snapshot \(boot)")
                try await runBlocking { try domain.domain.deleteSnapshot(named: Self.snapshotName) }
            }
        }
    }
}
