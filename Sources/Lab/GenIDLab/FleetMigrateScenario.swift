import Foundation
import GenIDControl
import Synchronization
import GenerationStore
import OpenLedger
import Libvirt
import VMGenID

/// Scenario `fleet-migrate`: two libvirt hosts (`LabFleet`), a genidd on
/// each, one fleet ledger. A guest booted on host a migrates three times
/// with libvirt's ordinary API, and must keep the value it has every time:
///
/// 1. a → b before genid ever changed its value (a plain migration: the
///    hook changes nothing);
/// 2. `genidctl revert` on b (a fresh value in b's QEMU process), then
///    b → a: the value travels in the live definition and the destination's
///    hook creates a's QEMU with it; a guest reset on a keeps it too;
/// 3. `genidctl rotate` on a, then a → b (the destination's QEMU device
///    value is changed, not added);
/// 4. on b, whose QEMU holds the carried value: a running snapshot and
///    libvirt's revert (the snapshot's definition brings that value along:
///    genidd must give a fresh one), then a save and a restore (the restore
///    hook drops it: libvirt's fresh value applies).
///
/// Every time, from inside the guest: the same value, the same sysgenid
/// counter, no VM fork in the kernel log; in the fleet ledger the value's
/// record moved to the destination host. With `chaos` (the kill test), a
/// random host's genidd is killed (SIGKILL) at a random point of every
/// migration and started again, and PostgreSQL is restarted during one of
/// them: still no value twice, and every value the guest had is recorded,
/// on the host where the guest is. The report lists what was disturbed when.
public struct FleetMigrateScenario: Sendable {
    public let settings: LabSettings
    public var chaos = false

    static let snapshotName = "genid-lab-fleet"

    public init(settings: LabSettings) {
        self.settings = settings
    }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async -> LabReport {
        let (settings, chaos) = (self.settings, self.chaos)
        return await LabFleet.report(scenario: chaos ? "fleet-migrate-chaos" : "fleet-migrate", settings: settings,
                                     progress: progress) { fleet, postgres, ledger, image, report in
            let disturbances = chaos ? FleetChaos(fleet: fleet, postgres: postgres, progress: progress) : nil
            defer { report.chaos = disturbances?.log }
            try await FleetMigrateRun(settings: settings, fleet: fleet, ledger: ledger, chaos: disturbances,
                                      progress: progress).run(image: image, report: &report)
        }
    }
}

/// The steps of `fleet-migrate`, with what they share.
struct FleetMigrateRun: Sendable {
    let settings: LabSettings
    let fleet: LabFleet
    let ledger: any GenerationStore
    let chaos: FleetChaos?
    let progress: @Sendable (String) -> Void

    func run(image: GuestImage, report: inout LabReport) async throws {
        var configuration = LabDomainConfiguration(image: image)
        configuration.rebootRestarts = true
        progress("defining and starting a domain on host a (\(image.kernel.release), TCG)")
        var domain = try await LabDomain.define(configuration, connection: fleet.a.connection,
                                                runRoot: settings.runRoot, hostRoot: fleet.a.root)
        do {
            try await domain.start()
            report.timingsMs["boot_to_agent"] = try await domain.waitForAgent(timeout: settings.agentTimeout).milliseconds
            let baseline = try await domain.observe()
            report.baselineGuid = baseline.value?.description
            var seen = [baseline.value].compactMap { $0 }

            // 1. plain: genid never changed the value
            domain = try await migrateAndCheck(domain, from: fleet.a, to: fleet.b, label: "plain", carried: false,
                                               report: &report)

            // 2. revert on b, then b -> a, then a guest reset on a
            let onB = domain
            try await runBlocking { try onB.domain.createSnapshot(named: FleetMigrateScenario.snapshotName) }
            let reverted = try await give(domain, on: fleet.b, ControlRequest(command: .revert, domain: domain.name,
                                                                              snapshot: FleetMigrateScenario.snapshotName),
                                          label: "genidctl revert on host b", seen: &seen, report: &report)
            // libvirt does not migrate a domain with snapshots.
            try await runBlocking { try onB.domain.deleteSnapshot(named: FleetMigrateScenario.snapshotName) }
            domain = try await migrateAndCheck(domain, from: fleet.b, to: fleet.a, label: "after a revert",
                                               carried: true, report: &report)
            try await checkReset(domain, keeps: reverted, report: &report)

            // 3. rotate on a, then a -> b: b's QEMU device value is changed
            _ = try await give(domain, on: fleet.a, ControlRequest(command: .rotate, domain: domain.name),
                               label: "genidctl rotate on host a", seen: &seen, report: &report)
            domain = try await migrateAndCheck(domain, from: fleet.a, to: fleet.b, label: "after a rotation",
                                               carried: true, report: &report)

            // 4. state loads on b, whose QEMU device holds the carried value
            try await checkSnapshotRevert(domain, seen: &seen, report: &report)
            try await checkRestore(domain, seen: &seen, report: &report)

            try await checkLedger(domain, values: seen, on: fleet.b, report: &report)
            if let plain = report.timingsMs["downtime_plain"], let carried = report.timingsMs["downtime_after a revert"],
               plain > 0 {
                report.timingsMs["downtime_ratio_carried_to_plain"] = carried / plain
            }
            await domain.tearDown(keepConsoleLogAt: report.consoleLog)
        } catch {
            await domain.tearDown(keepConsoleLogAt: report.consoleLog)
            throw error
        }
    }

    /// One migration and the checks from inside the guest and in the ledger.
    func migrateAndCheck(_ domain: LabDomain, from source: LabFleet.Host, to destination: LabFleet.Host,
                         label: String, carried: Bool, report: inout LabReport) async throws -> LabDomain {
        let before = try await domain.observe()
        progress("live migration \(source.name) -> \(destination.name) (\(label))")
        let disturbance = chaos.map { chaos in Task { await chaos.disturb() } }
        let migration = try await fleet.migrate(domain, from: source, to: destination)
        await disturbance?.value
        let arrived = migration.domain
        report.timingsMs["migration_\(label)"] = migration.elapsed.milliseconds
        if let downtime = migration.downtime { report.timingsMs["downtime_\(label)"] = downtime.milliseconds }
        let after = try await arrived.observeAfterSettling()
        let value = before.value?.description ?? "none"
        report.check("after the migration \(label) the guest keeps its value", after.value != nil
                        && after.value == before.value, "before \(value), after \(after.value?.description ?? "none")")
        report.check("after the migration \(label) the guest kernel logged no VM fork", after.forked(since: before) == false,
                     "vmfork lines \(before.kernelVMForkCount.map(String.init) ?? "?") -> "
                        + "\(after.kernelVMForkCount.map(String.init) ?? "?")")
        report.check("after the migration \(label) the sysgenid counter is unchanged",
                     after.sysgenidCounter == before.sysgenidCounter,
                     "\(before.sysgenidCounter.map(String.init) ?? "?") -> \(after.sysgenidCounter.map(String.init) ?? "?")")
        let liveXML = try arrived.liveXML()
        let qemu = try DomainXML.qemuDeviceValue(in: liveXML)
        report.check("the destination's QEMU device holds the guest's value \(label)"
                        + (carried ? " (carried by genid's hook)" : ""), qemu == before.value?.description,
                     "QEMU \(qemu ?? "none"), libvirt <genid> \(try DomainXML.genID(in: liveXML).value ?? "none")")
        let moved = await eventually(timeout: .seconds(chaos == nil ? 15 : 60)) {
            await LabReport.record(of: before.value, in: ledger)?.host == destination.hostname
        }
        let record = await LabReport.record(of: before.value, in: ledger)
        report.check("the fleet ledger shows the move \(label): the same value, now on \(destination.hostname)",
                     moved && record?.vm.name == arrived.name, "record: \(record.map { "\($0.vm.name) on \($0.host ?? "-")" } ?? "none")")
        if chaos == nil {
            let status = try await runBlocking {
                try destination.genidd.send(ControlRequest(command: .status, domain: arrived.name))
            }.status?.first
            report.check("genidctl status on \(destination.hostname) names no disagreement \(label)",
                         status?.disagreement == nil && status?.guestMemoryValue == before.value?.description,
                         status?.disagreement ?? "guest memory \(status?.guestMemoryValue ?? "unread")")
        }
        report.restores.append(.init(host: before.value?.description, baseline: before, after: after,
                                     observedChange: after.forked(since: before), elapsedMs: migration.elapsed.milliseconds))
        return arrived
    }

    /// A genidctl request to `host`'s genidd that gives the guest a fresh
    /// value; checks the guest sees it and it is new. Retried while genidd
    /// or the ledger are away (the chaos).
    func give(_ domain: LabDomain, on host: LabFleet.Host, _ request: ControlRequest, label: String,
              seen: inout [GenerationID], report: inout LabReport) async throws -> GenerationID? {
        let before = try await domain.observe()
        var response = ControlResponse(ok: false, error: "not sent")
        for _ in 0..<20 {
            if let answer = try? await runBlocking({ try host.genidd.send(request) }), answer.ok {
                response = answer
                break
            }
            try await Task.sleep(for: .seconds(1))
        }
        let given = response.rotation.flatMap { GenerationID($0.value) }
        let after = try await domain.observeChange(after: before)
        report.check("\(label) gave the guest a value never seen before", response.ok && given != nil
                        && after.value == given && !seen.contains(given!),
                     response.error ?? "given \(given?.description ?? "none"), guest \(after.value?.description ?? "none")")
        if let given { seen.append(given) }
        return given
    }

    /// A guest reset on the host the guest migrated to: QEMU was created
    /// with the guest's value, so the firmware gets that one.
    func checkReset(_ domain: LabDomain, keeps value: GenerationID?, report: inout LabReport) async throws {
        progress("guest reset after the migration")
        try await runBlocking { try domain.domain.reset() }
        try await domain.reconnectAgent(timeout: .seconds(120))
        let after = try await domain.observe()
        report.check("after a guest reset on the destination the guest still runs with its value",
                     after.value != nil && after.value == value,
                     "guest \(after.value?.description ?? "none"), expected \(value?.description ?? "none")")
        report.check("after that reset the guest kernel was told of no fork", after.kernelVMForkCount == 0,
                     "VM fork lines: \(after.kernelVMForkCount.map(String.init) ?? "unknown")")
    }

    /// A running snapshot taken on the host the guest migrated to, then
    /// libvirt's revert: the snapshot's definition brings QEMU's device
    /// value (the guest's) along, so the load shows the guest nothing new;
    /// genidd sees a value recorded before the new QEMU started and gives
    /// a fresh one.
    func checkSnapshotRevert(_ domain: LabDomain, seen: inout [GenerationID], report: inout LabReport) async throws {
        progress("running snapshot and libvirt's revert after the migration")
        let name = "genid-lab-after-migration"
        try await runBlocking { try domain.domain.createSnapshot(named: name) }
        let before = try await domain.observe()
        try await runBlocking { try domain.domain.revertToSnapshot(named: name, options: [.running]) }
        try await domain.reconnectAgent(timeout: .seconds(120))
        let earlier = seen
        var after = try await domain.observe()
        let fresh = await eventually(timeout: .seconds(30)) {
            after = try await domain.observe()
            return after.value.map { !earlier.contains($0) } ?? false
        }
        report.check("after libvirt's revert of a snapshot taken after the migration the guest gets a value never "
                        + "seen before", fresh, "guest \(after.value?.description ?? "none"), before \(before.value?.description ?? "none")")
        let record = await LabReport.record(of: after.value, in: ledger)
        report.check("that value is in the fleet ledger for the domain", record?.vm.name == domain.name,
                     record.map { "\($0.vm.name) on \($0.host ?? "-")" } ?? "not recorded")
        if let value = after.value { seen.append(value) }
        try await runBlocking { try domain.domain.deleteSnapshot(named: name) }
    }

    /// Save and restore on the host the guest migrated to: the saved
    /// definition has the device value the hook gave QEMU; the restore hook
    /// drops it, so libvirt's fresh value applies at the load.
    func checkRestore(_ domain: LabDomain, seen: inout [GenerationID], report: inout LabReport) async throws {
        progress("save and restore after the migration")
        let image = "\(domain.directory.path)/saved.img"
        let (saved, host) = (domain.domain, fleet.b.connection)
        let before = try await domain.observe()
        try await runBlocking { try saved.save(to: image) }
        try await runBlocking { try host.restore(from: image) }
        try await domain.reconnectAgent(timeout: .seconds(120))
        let after = try await domain.observe()
        let libvirtValue = try domain.liveGenerationID()
        report.check("after a restore the guest runs with libvirt's fresh value, not the device value a migration "
                        + "gave QEMU", after.value != nil && after.value?.description == libvirtValue
                        && !seen.contains(after.value!),
                     "guest \(after.value?.description ?? "none"), libvirt \(libvirtValue ?? "none"), "
                        + "QEMU \((try? DomainXML.qemuDeviceValue(in: domain.liveXML())) ?? "none")")
        let processed = await eventually(timeout: .seconds(10)) {
            try await domain.observe().forked(since: before) == true
        }
        report.check("the restored guest's kernel processed the change", processed,
                     "vmfork lines before the save: \(before.kernelVMForkCount.map(String.init) ?? "?")")
        if let value = after.value { seen.append(value) }
        unlink(image)
    }

    /// The end: no value twice; every value the guest had is recorded for
    /// it; the current one on the host where the guest runs.
    func checkLedger(_ domain: LabDomain, values: [GenerationID], on host: LabFleet.Host,
                     report: inout LabReport) async throws {
        let duplicates = try await ledger.duplicateValues()
        report.check("no value twice in the fleet ledger", duplicates.isEmpty, "\(duplicates)")
        var missing: [String] = []
        for value in values where await LabReport.record(of: value, in: ledger)?.vm.name != domain.name {
            missing.append(value.description)
        }
        report.check("every value the guest had is recorded for it (\(values.count))", missing.isEmpty,
                     "missing: \(missing.joined(separator: ", "))")
        let trail = try await ledger.auditTrail(vm: domain.name, limit: nil)
        let moves = trail.filter { $0.kind == "moved" }
        report.check("the audit trail shows the moves", moves.count >= 3, "\(moves.count) 'moved' entries")
    }
}

/// The kill test's disturbances: a random host's genidd killed and started
/// again during a migration, PostgreSQL restarted during one of them.
final class FleetChaos: Sendable {
    let fleet: LabFleet
    let postgres: LabPostgres
    let progress: @Sendable (String) -> Void
    private let state: Mutex<(migrations: Int, postgresAt: Int, log: [String])>

    init(fleet: LabFleet, postgres: LabPostgres, progress: @escaping @Sendable (String) -> Void) {
        state = Mutex((0, Int.random(in: 0..<3), []))
        self.fleet = fleet
        self.postgres = postgres
        self.progress = progress
    }

    /// What was disturbed when, one line each.
    var log: [String] { state.withLock { $0.log } }

    /// Runs beside one migration.
    func disturb() async {
        let host = fleet.hosts[Int.random(in: 0..<2)]
        let (killAfter, downFor, postgresAfter) = (Int.random(in: 0...1500), Int.random(in: 0...1000),
                                                   Int.random(in: 0...1500))
        let (migration, restartPostgres) = state.withLock { state in
            defer { state.migrations += 1 }
            return (state.migrations + 1, state.migrations == state.postgresAt)
        }
        note("migration \(migration): genidd on host \(host.name) killed \(killAfter) ms in, started \(downFor) ms later"
            + (restartPostgres ? "; PostgreSQL restarted \(postgresAfter) ms in" : ""))
        async let killing: Void = {
            try? await Task.sleep(for: .milliseconds(killAfter))
            progress("chaos: SIGKILL to genidd on host \(host.name) (\(killAfter) ms into the migration)")
            host.genidd.kill9()
            try? await Task.sleep(for: .milliseconds(downFor))
            try? await host.genidd.start(timeout: .seconds(60))
        }()
        async let restarting: Void = {
            guard restartPostgres else { return }
            try? await Task.sleep(for: .milliseconds(postgresAfter))
            progress("chaos: PostgreSQL restarted (\(postgresAfter) ms into the migration)")
            try? await postgres.stop()
            try? await Task.sleep(for: .milliseconds(500))
            try? await postgres.start()
        }()
        _ = await (killing, restarting)
    }

    private func note(_ line: String) {
        state.withLock { $0.log.append(line) }
    }
}
