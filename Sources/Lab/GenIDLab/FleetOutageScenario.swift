import Foundation
import GenIDControl
import Libvirt

/// Scenario `fleet-outage`: genidd on a fleet ledger (a PostgreSQL server
/// of the scenario's own) that stops during a revert. With the server down
/// `genidctl revert` is refused, the guest keeps its value (nothing given
/// that could not be recorded) and `genidctl status` shows the ledger
/// unreachable; once the server is back, the same genidd's next revert
/// succeeds and its value is in the fleet ledger.
public struct FleetOutageScenario: Sendable {
    public let settings: LabSettings
    static let snapshotName = "genid-lab-outage"

    public init(settings: LabSettings) {
        self.settings = settings
    }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async -> LabReport {
        let postgres: LabPostgres
        do {
            progress("starting a private PostgreSQL server for the fleet ledger")
            postgres = try LabPostgres(runRoot: settings.runRoot)
            try await postgres.start()
        } catch {
            return LabReport.failed("fleet-outage", error)
        }
        defer { postgres.remove() }
        return await LibvirtScenarioContext.report(scenario: "fleet-outage", settings: settings, ledger: postgres.url,
                                                   progress: progress) { context in
            let shared = context
            try await context.withBootedDomain { domain, report in
                let baseline = try await domain.observe()
                report.baselineGuid = baseline.value?.description
                try await runBlocking { try domain.domain.createSnapshot(named: Self.snapshotName) }
                let recordsBefore = try await shared.ledger.history().count

                progress("PostgreSQL stopped; genidctl revert must be refused")
                try await postgres.stop()
                let started = ContinuousClock.now
                let refused = try await runBlocking { try shared.genidd.send(Self.revert(domain.name)) }
                report.timingsMs["refusal"] = (ContinuousClock.now - started).milliseconds
                report.check("with the ledger down, genidctl revert is refused and says why", !refused.ok
                                && (refused.error ?? "").contains("fleet ledger"), refused.error ?? "it succeeded")
                let status = try await runBlocking {
                    try shared.genidd.send(ControlRequest(command: .status, domain: domain.name))
                }
                report.check("genidctl status shows the ledger unreachable", status.ledger?.reachable == false
                                && status.ledger?.error != nil, "\(String(describing: status.ledger))")
                let during = try await domain.observe()
                report.check("the guest kept its value and saw no fork: nothing was given",
                             during.value == baseline.value && during.forked(since: baseline) == false,
                             "baseline \(baseline.value?.description ?? "none"), now \(during.value?.description ?? "none")")

                progress("PostgreSQL started again; the next revert must succeed")
                try await postgres.start()
                let recordsAtRestart = try await shared.ledger.history().count
                report.check("nothing was recorded while the ledger was down", recordsAtRestart == recordsBefore,
                             "\(recordsBefore) -> \(recordsAtRestart) records")
                // genidd reconnects at its next ledger operation; a loaded machine
                // may need more than its 5 s deadline for the first one.
                var accepted = try await runBlocking { try shared.genidd.send(Self.revert(domain.name)) }
                var attempts = 1
                while !accepted.ok, attempts < 3 {
                    attempts += 1
                    try await Task.sleep(for: .seconds(1))
                    accepted = try await runBlocking { try shared.genidd.send(Self.revert(domain.name)) }
                }
                report.timingsMs["reverts_until_accepted"] = Double(attempts)
                report.check("with the ledger back, the same genidd's revert succeeds (no restart of genidd)",
                             accepted.ok, accepted.error ?? "after \(attempts) attempt(s)")
                let after = try await domain.observe()
                let given = accepted.rotation?.value
                report.check("the guest sees the new value", given != nil && after.value?.description == given
                                && after.value != baseline.value,
                             "genidd \(given ?? "none"), guest \(after.value?.description ?? "none")")
                let record = await LabReport.record(of: after.value, in: shared.ledger)
                report.check("the value is in the fleet ledger for this domain, with its host, as issued",
                             record?.vm.name == domain.name && record?.host?.isEmpty == false
                                && record?.origin == .issued, "\(String(describing: record))")
                let recordsAfter = try await shared.ledger.history().count
                report.check("the accepted revert added its value (and at most one per attempt)",
                             recordsAfter > recordsAtRestart && recordsAfter <= recordsAtRestart + attempts,
                             "\(recordsAtRestart) -> \(recordsAfter) records")
                report.check("no value twice in the fleet ledger", try await shared.ledger.duplicateValues().isEmpty)
                let statusAfter = try await runBlocking {
                    try shared.genidd.send(ControlRequest(command: .status, domain: domain.name))
                }
                report.check("genidctl status shows the ledger reachable again", statusAfter.ledger?.reachable == true)
                report.restores.append(.init(host: given, baseline: baseline, after: after,
                                             observedChange: after.forked(since: baseline), elapsedMs: nil))
            }
        }
    }

    static func revert(_ domain: String) -> ControlRequest {
        ControlRequest(command: .revert, domain: domain, snapshot: snapshotName)
    }
}
