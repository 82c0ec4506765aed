import Foundation
import GenIDControl
import Libvirt
import VMGenID

/// Scenario `reboot-after-rotate`: `genidctl rotate` gives a running libvirt
/// domain a new value in its QEMU process, so QEMU's vmgenid device (and
/// libvirt's live `<genid>`) keep the old one, which stock QEMU hands the
/// firmware again at every reset. The guest is reset twice; after each
/// reboot it must run with the rotated value, never the older one.
public struct RebootAfterRotateScenario: Sendable {
    public let settings: LabSettings
    public var resets = 2

    public init(settings: LabSettings) {
        self.settings = settings
    }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async -> LabReport {
        await LibvirtScenarioContext.report(scenario: "reboot-after-rotate", settings: settings, progress: progress) { context in
            let shared = context
            let resets = self.resets
            try await context.withBootedDomain(configure: { $0.rebootRestarts = true }) { domain, report in
                let baseline = try await domain.observe()
                report.baselineGuid = baseline.value?.description
                let rotated = try await runBlocking {
                    try shared.genidd.send(ControlRequest(command: .rotate, domain: domain.name))
                }
                let given = rotated.rotation?.value
                let afterRotate = try await domain.observe()
                report.check("genidctl rotate gave the guest a new value", rotated.ok && given != nil
                                && afterRotate.value?.description == given && afterRotate.value != baseline.value,
                             rotated.error ?? "guest \(afterRotate.value?.description ?? "none")")
                let stale = try domain.liveGenerationID()
                report.check("QEMU's device value (libvirt's live <genid>) is still the older one",
                             stale == baseline.value?.description, "libvirt \(stale ?? "none")")
                for number in 1...resets {
                    progress("reset \(number)/\(resets): the guest reboots in the same QEMU")
                    let started = ContinuousClock.now
                    try await runBlocking { try domain.domain.reset() }
                    try await domain.reconnectAgent(timeout: .seconds(120))
                    report.timingsMs["reset_\(number)_to_agent"] = (ContinuousClock.now - started).milliseconds
                    let after = try await domain.observe()
                    report.check("after reset \(number) the guest runs with the rotated value, not the older one",
                                 after.value?.description == given && after.value != baseline.value,
                                 "guest \(after.value?.description ?? "none"), rotated \(given ?? "none"), "
                                    + "older \(baseline.value?.description ?? "none")")
                    report.check("after reset \(number) the guest kernel was told of no fork (it booted with its value)",
                                 after.kernelVMForkCount == 0,
                                 "VM fork lines in the guest kernel log: \(after.kernelVMForkCount.map(String.init) ?? "unknown")")
                    report.restores.append(.init(host: given, baseline: afterRotate, after: after, observedChange: nil,
                                                 elapsedMs: report.timingsMs["reset_\(number)_to_agent"]))
                }
                let trail = try await shared.ledger.auditTrail(vm: domain.name, limit: nil)
                let repairs = trail.filter { $0.kind == "reset-reasserted" }
                // Each reset's repair is checked above, in the guest; genidd
                // records at most one such row a minute per domain (a guest
                // that resets in a loop must not grow the ledger).
                report.check("genidd recorded the repair in its audit trail, at most once a minute",
                             (1...resets).contains(repairs.count), repairs.map(\.message).joined(separator: "; "))
                if let last = repairs.last?.message, let ms = last.split(separator: " ").dropLast().last.flatMap({ Double($0) }) {
                    report.timingsMs["reset_repair"] = ms
                }
                let status = try await runBlocking {
                    try shared.genidd.send(ControlRequest(command: .status, domain: domain.name))
                }.status?.first
                report.check("genidctl status still names QEMU's stale device value", status?.libvirtValue == stale
                                && status?.disagreement?.contains(stale ?? "-") == true,
                             status?.disagreement ?? "no disagreement shown")
            }
        }
    }
}
