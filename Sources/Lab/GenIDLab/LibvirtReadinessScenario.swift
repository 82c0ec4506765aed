import AgentProtocol
import Foundation
import GenIDControl
import Libvirt

/// Scenario `libvirt-readiness`: a tracked sysgenid watcher in the guest
/// takes 2 s to acknowledge each new generation; after a libvirt revert,
/// `wait-ready` must return only once it has (never before).
public struct LibvirtReadinessScenario: Sendable {
    public let settings: LabSettings
    public var acknowledgeDelay: Duration = .seconds(2)
    static let snapshotName = "genid-lab-readiness"

    public init(settings: LabSettings) {
        self.settings = settings
    }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async -> LabReport {
        await LibvirtScenarioContext.report(scenario: "libvirt-readiness", settings: settings, progress: progress) { context in
            let shared = context
            let delay = acknowledgeDelay
            try await context.withBootedDomain { domain, report in
                let delayMs = Int(delay.milliseconds)
                _ = try await domain.ask(.slowWatcher, arguments: [String(delayMs)], timeout: .seconds(10))
                let baseline = try await domain.observe()
                report.baselineGuid = baseline.value?.description
                try await runBlocking { try domain.domain.createSnapshot(named: Self.snapshotName) }
                progress("a watcher that acknowledges after \(delayMs) ms runs in the guest; reverting")
                let revertStarted = ContinuousClock.now
                try await runBlocking { try domain.domain.revertToSnapshot(named: Self.snapshotName, options: [.running]) }
                let revertDone = ContinuousClock.now
                // Asked right away, with a short limit, genidd must say "not ready".
                let early = try await runBlocking {
                    try shared.genidd.client.send(ControlRequest(command: .waitReady, domain: domain.name,
                                                                 timeoutSeconds: 0.5))
                }
                report.check("wait-ready right after the revert says not ready (limit 0.5 s)", !early.ok,
                             early.ok ? "ready after \(early.ready.map { Int($0.waitedMilliseconds) } ?? -1) ms"
                                      : early.error ?? "")
                let ready = try await shared.waitReady(domain)
                let readyAt = ContinuousClock.now
                let sinceRevertStart = (readyAt - revertStarted).milliseconds
                report.timingsMs["revert"] = (revertDone - revertStarted).milliseconds
                report.timingsMs["revert_start_to_ready"] = sinceRevertStart
                report.timingsMs["genidd_readiness"] = ready.readinessMilliseconds ?? -1
                report.check("wait-ready returned no sooner than the watcher's \(delayMs) ms after the revert began",
                             sinceRevertStart >= delay.milliseconds, "\(Int(sinceRevertStart)) ms")
                try await domain.reconnectAgent()
                let watchers = try await domain.ask(.watchers, arguments: [], timeout: .seconds(10))
                let tracked = watchers[AgentSysGenIDField.tracked].flatMap { Int($0) }
                let outdated = watchers[AgentSysGenIDField.outdated].flatMap { Int($0) }
                report.check("the slow watcher is tracked in the restored guest", (tracked ?? 0) >= 1,
                             "tracked \(tracked.map(String.init) ?? "unknown")")
                report.check("when wait-ready returned, every tracked watcher had acknowledged", outdated == 0,
                             "outdated \(outdated.map(String.init) ?? "unknown")")
                let after = try await domain.observe()
                report.check("wait-ready answered for the guest's new value", ready.value == after.value?.description
                                && after.value != baseline.value,
                             "genidd \(ready.value), guest \(after.value?.description ?? "none"), "
                                + "baseline \(baseline.value?.description ?? "none")")
                report.restores.append(.init(host: try domain.liveGenerationID(), baseline: baseline, after: after,
                                             observedChange: (after.kernelVMForkCount ?? 0) > (baseline.kernelVMForkCount ?? 0),
                                             elapsedMs: report.timingsMs["revert"]))
            }
        }
    }
}
