import Foundation
import GenerationStore
import Libvirt
import VMGenID

/// Scenario `fleet-clone`: two libvirt hosts (`LabFleet`) on one fleet
/// ledger. A guest runs on host a; its persistent XML and a copy of its
/// disk are defined on host b, twice: verbatim (the same name and UUID: to
/// the ledger the same VM, whose value is recorded on host a) and renamed
/// without a UUID (another VM holding a's value). Each copy must get a
/// fresh value from b's genidd before it starts, and run with it, never
/// seen before; the original keeps its own. A third, verbatim copy is
/// started at once, before genidd can change its definition: it must end
/// up running with a fresh value too (genidd rotates it).
public struct FleetCloneScenario: Sendable {
    public let settings: LabSettings

    public init(settings: LabSettings) {
        self.settings = settings
    }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async -> LabReport {
        let settings = self.settings
        return await LabFleet.report(scenario: "fleet-clone", settings: settings, progress: progress) {
            fleet, _, ledger, image, report in
            try await FleetCloneSteps(settings: settings, fleet: fleet, ledger: ledger, progress: progress)
                .run(image: image, report: &report)
        }
    }
}

struct FleetCloneSteps: Sendable {
    let settings: LabSettings
    let fleet: LabFleet
    let ledger: any GenerationStore
    let progress: @Sendable (String) -> Void

    func run(image: GuestImage, report: inout LabReport) async throws {
        progress("defining and starting the original on host a (\(image.kernel.release), TCG)")
        let original = try await LabDomain.define(LabDomainConfiguration(image: image), connection: fleet.a.connection,
                                                  runRoot: settings.runRoot, hostRoot: fleet.a.root)
        do {
            try await original.start()
            report.timingsMs["boot_to_agent"] = try await original.waitForAgent(timeout: settings.agentTimeout)
                .milliseconds
            let baseline = try await original.observe()
            report.baselineGuid = baseline.value?.description
            let recorded = await eventually {
                await LabReport.record(of: baseline.value, in: ledger)?.host == fleet.a.hostname
            }
            let record = await LabReport.record(of: baseline.value, in: ledger)
            report.check("the original's value is in the fleet ledger, on host a", recorded,
                         record.map { "\($0.vm.name) on \($0.host ?? "-")" } ?? "not recorded")
            var seen = [baseline.value].compactMap { $0 }
            for keepingIdentity in [true, false] {
                try await copyAndStart(original, keepingIdentity: keepingIdentity, seen: &seen, report: &report)
            }
            try await copyAndStartAtOnce(original, seen: &seen, report: &report)
            let after = try await original.observe()
            report.check("the original on host a kept its value and saw no fork", after.value == baseline.value
                            && after.forked(since: baseline) == false,
                         "before \(baseline.value?.description ?? "none"), now \(after.value?.description ?? "none")")
            let kept = await LabReport.record(of: baseline.value, in: ledger)
            report.check("the original's value is still recorded for it on host a (no copy took it over)",
                         kept?.host == fleet.a.hostname, kept.map { "on \($0.host ?? "-")" } ?? "not recorded")
            let duplicates = try await ledger.duplicateValues()
            report.check("no value twice in the fleet ledger", duplicates.isEmpty, "\(duplicates)")
            await original.tearDown(keepConsoleLogAt: report.consoleLog)
        } catch {
            await original.tearDown(keepConsoleLogAt: report.consoleLog)
            throw error
        }
    }

    /// Defines a copy of `original` on host b, waits for b's genidd to give
    /// its definition a fresh value, starts it and looks from inside.
    func copyAndStart(_ original: LabDomain, keepingIdentity: Bool, seen: inout [GenerationID],
                      report: inout LabReport) async throws {
        let label = keepingIdentity ? "(verbatim copy: same name and UUID)" : "(renamed copy, no UUID)"
        progress("defining a copy on host b \(label)")
        let copied = try original.domain.xmlDescription(inactive: true)
        let copiedValue = try DomainXML.genID(in: copied).value
        let copy = try await LabDomain.defineCopy(of: original, connection: fleet.b.connection,
                                                  runRoot: settings.runRoot, hostRoot: fleet.b.root,
                                                  keepingIdentity: keepingIdentity)
        do {
            var definition: String?
            let changed = await eventually {
                definition = try DomainXML.genID(in: try copy.domain.xmlDescription(inactive: true)).value
                return definition != nil && definition != copiedValue
            }
            report.check("host b's genidd gave the copy's definition a new value before it started \(label)",
                         changed, "copied \(copiedValue ?? "none"), definition now \(definition ?? "none")")
            try await copy.start()
            try await copy.waitForAgent(timeout: settings.agentTimeout)
            let guest = try await copy.observe()
            let value = guest.value
            report.check("the copy runs with its definition's new value \(label)",
                         value != nil && value?.description == definition,
                         "guest \(value?.description ?? guest.valueError ?? "none"), definition \(definition ?? "none")")
            report.check("the copy's value was never seen before \(label)", value.map { !seen.contains($0) } ?? false,
                         "guest \(value?.description ?? "none"); earlier \(seen.map(\.description).joined(separator: ", "))")
            let record = await LabReport.record(of: value, in: ledger)
            report.check("the fleet ledger records it for the copy, on host b \(label)",
                         record?.vm.name == copy.name && record?.host == fleet.b.hostname,
                         "\(record.map { "\($0.vm.name) on \($0.host ?? "-")" } ?? "not recorded")")
            report.restores.append(.init(host: definition, baseline: guest, after: guest, observedChange: nil,
                                         elapsedMs: nil))
            if let value { seen.append(value) }
            await copy.tearDown()
        } catch {
            await copy.tearDown()
            throw error
        }
    }

    /// A verbatim copy started right after its definition, before b's
    /// genidd could change it: the guest boots with the original's value,
    /// which did not come by a migration, so genidd gives it a fresh one.
    func copyAndStartAtOnce(_ original: LabDomain, seen: inout [GenerationID], report: inout LabReport) async throws {
        let label = "(verbatim copy started at once)"
        progress("defining and at once starting a copy on host b \(label)")
        let copy = try await LabDomain.defineCopy(of: original, connection: fleet.b.connection,
                                                  runRoot: settings.runRoot, hostRoot: fleet.b.root,
                                                  keepingIdentity: true)
        do {
            try await copy.start()
            try await copy.waitForAgent(timeout: settings.agentTimeout)
            let earlier = seen
            var guest: GuestObservation?
            let fresh = await eventually(timeout: .seconds(30)) {
                guest = try await copy.observe()
                return guest?.value.map { !earlier.contains($0) } ?? false
            }
            let value = guest?.value
            report.check("the copy runs with a value never seen before \(label)", fresh,
                         "guest \(value?.description ?? "none"); earlier \(earlier.map(\.description).joined(separator: ", "))")
            let record = await LabReport.record(of: value, in: ledger)
            report.check("the fleet ledger records it for the copy, on host b \(label)",
                         record?.vm.name == copy.name && record?.host == fleet.b.hostname,
                         "\(record.map { "\($0.vm.name) on \($0.host ?? "-")" } ?? "not recorded")")
            if let value { seen.append(value) }
            await copy.tearDown()
        } catch {
            await copy.tearDown()
            throw error
        }
    }
}
