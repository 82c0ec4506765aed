import Foundation
import Libvirt

/// Scenarios where libvirt would reuse a value in a *definition*, and genidd
/// must write a fresh one before the domain next runs:
/// `libvirt-inactive-revert`, `libvirt-clone` and `libvirt-genidd-down`.
public struct LibvirtDefinitionScenario: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case inactiveRevert = "libvirt-inactive-revert"
        case clone = "libvirt-clone"
        case geniddDown = "libvirt-genidd-down"
    }

    public let settings: LabSettings
    public let kind: Kind
    static let snapshotName = "genid-lab-off"

    public init(settings: LabSettings, kind: Kind) {
        self.settings = settings
        self.kind = kind
    }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async -> LabReport {
        await LibvirtScenarioContext.report(scenario: kind.rawValue, settings: settings, progress: progress) { context in
            switch kind {
            case .inactiveRevert: try await inactiveRevert(&context)
            case .clone: try await clone(&context)
            case .geniddDown: try await geniddDown(&context)
            }
        }
    }

    /// Shut-off snapshot, a boot, shut down, inactive revert, start: the
    /// guest must see a value it never had.
    private func inactiveRevert(_ context: inout LibvirtScenarioContext) async throws {
        let shared = context
        var report = context.report
        defer { context.report = report }
        try await shared.withDefinedDomain { domain in
            let original = try shared.persistentValue(of: domain)
            try await runBlocking { try domain.domain.createSnapshot(named: Self.snapshotName) }
            shared.progress("shut-off snapshot taken; booting once")
            let first = try await shared.startAndObserve(domain)
            report.baselineGuid = first.value?.description
            try await runBlocking { try domain.domain.destroy() }
            try await runBlocking { try domain.domain.revertToSnapshot(named: Self.snapshotName) }
            shared.progress("reverted the shut-off snapshot; waiting for genidd to refresh the definition")
            let fresh = try await shared.persistentValue(of: domain.domain, changedFrom: original)
            report.check("genidd wrote a fresh <genid> after the inactive revert", fresh != nil && fresh != original,
                         "before \(original ?? "none"), after \(fresh ?? "none")")
            let started = ContinuousClock.now
            let guest = try await shared.startAndObserve(domain)
            report.timingsMs["start_to_agent"] = (ContinuousClock.now - started).milliseconds
            await shared.checkFirstRun(&report, label: "after the inactive revert", domain: domain, guest: guest,
                                 expected: fresh, notAnyOf: [original, first.value?.description])
            report.restores.append(.init(hostGuid: fresh, guestGuid: guest.value?.description,
                                         guestObservedChange: guest.value?.description != first.value?.description,
                                         sysgenidBefore: first.sysgenidCounter, sysgenidAfter: guest.sysgenidCounter))
        }
    }

    /// A running domain's XML copied to a new domain: the copy must get a
    /// fresh value before it first runs, and both guests see different ones.
    private func clone(_ context: inout LibvirtScenarioContext) async throws {
        let shared = context
        try await context.withBootedDomain { source, report in
            let sourceGuest = try await source.observe()
            report.baselineGuid = sourceGuest.value?.description
            let shared = shared
            try await shared.withCopy(of: source) { copy in
                let copied = try DomainXML.genID(in: copy.definitionXML).value
                report.check("the copied XML carries the source's value", copied == sourceGuest.value?.description,
                             "copy \(copied ?? "none"), source guest \(sourceGuest.value?.description ?? "none")")
                shared.progress("defined \(copy.name) from \(source.name)'s XML; waiting for genidd")
                let fresh = try await shared.persistentValue(of: copy.domain, changedFrom: copied)
                report.check("genidd gave the copy a fresh value before it first ran", fresh != nil && fresh != copied,
                             "copied \(copied ?? "none"), now \(fresh ?? "none")")
                let guest = try await shared.startAndObserve(copy)
                await shared.checkFirstRun(&report, label: "in the copy", domain: copy, guest: guest, expected: fresh,
                                     notAnyOf: [copied])
                let sourceNow = try await source.observe()
                report.check("both guests see different values",
                             guest.value != nil && sourceNow.value != nil && guest.value != sourceNow.value,
                             "source \(sourceNow.value?.description ?? "none"), copy \(guest.value?.description ?? "none")")
                report.restores.append(.init(hostGuid: fresh, guestGuid: guest.value?.description,
                                             guestObservedChange: guest.value != sourceNow.value))
            }
        }
    }

    /// genidd stopped while a domain is copied and another's shut-off
    /// snapshot is reverted; its reconciliation at start must give both a
    /// fresh value before they run.
    private func geniddDown(_ context: inout LibvirtScenarioContext) async throws {
        let shared = context
        try await context.withBootedDomain { source, report in
            let sourceGuest = try await source.observe()
            report.baselineGuid = sourceGuest.value?.description
            let shared = shared
            try await shared.withDefinedDomain { reverted in
                let revertedValue = try shared.persistentValue(of: reverted)
                try await runBlocking { try reverted.domain.createSnapshot(named: Self.snapshotName) }
                shared.progress("stopping genidd")
                shared.genidd.stop()
                try await shared.withCopy(of: source) { copy in
                    try await runBlocking { try reverted.domain.revertToSnapshot(named: Self.snapshotName) }
                    let copied = try shared.persistentValue(of: copy)
                    try await Task.sleep(for: .seconds(1))
                    report.check("while genidd is down, nobody changes the copy's value",
                                 try shared.persistentValue(of: copy) == sourceGuest.value?.description,
                                 "copy \(copied ?? "none")")
                    shared.progress("starting genidd again")
                    try await shared.genidd.start()
                    let copyFresh = try await shared.persistentValue(of: copy.domain, changedFrom: copied)
                    let revertedFresh = try await shared.persistentValue(of: reverted.domain, changedFrom: revertedValue)
                    report.check("reconciliation gave the copy a fresh value", copyFresh != copied,
                                 "copied \(copied ?? "none"), now \(copyFresh ?? "none")")
                    report.check("reconciliation gave the reverted domain a fresh value", revertedFresh != revertedValue,
                                 "snapshot's \(revertedValue ?? "none"), now \(revertedFresh ?? "none")")
                    let copyGuest = try await shared.startAndObserve(copy)
                    let revertedGuest = try await shared.startAndObserve(reverted)
                    let earlier = [copied, revertedValue, sourceGuest.value?.description]
                    await shared.checkFirstRun(&report, label: "in the copy", domain: copy, guest: copyGuest,
                                         expected: copyFresh, notAnyOf: earlier)
                    await shared.checkFirstRun(&report, label: "in the reverted domain", domain: reverted, guest: revertedGuest,
                                         expected: revertedFresh, notAnyOf: earlier)
                    report.check("the two guests see different values",
                                 copyGuest.value != nil && copyGuest.value != revertedGuest.value)
                    for (value, guest) in [(copyFresh, copyGuest), (revertedFresh, revertedGuest)] {
                        report.restores.append(.init(hostGuid: value, guestGuid: guest.value?.description,
                                                     guestObservedChange: guest.value?.description != nil
                                                        && !earlier.contains(guest.value?.description)))
                    }
                }
            }
        }
    }
}
