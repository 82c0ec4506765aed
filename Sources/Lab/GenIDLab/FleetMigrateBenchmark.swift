import Foundation
import GenIDControl
import Libvirt

/// `genid-lab bench fleet-migrate`: one guest live-migrated back and forth
/// between the fleet's two libvirt hosts (`LabFleet`), alternately plain
/// and with genid's continuity (the order flipped every round), so both
/// kinds move the same guest under the same load.
///
/// Before each migration `genidctl rotate` gives the guest a new value in
/// its QEMU process (its QEMU device then holds an older one), and the
/// guest settles for two seconds; then
/// - with genid: the destination's hook creates the new QEMU with the
///   carried value (the guest keeps its value: checked);
/// - plain: genid's hook is off on the destination, libvirt's migration as
///   it is without genid (the guest is shown its QEMU device's older value).
/// So both kinds move the same guest in the same state; only the hook
/// differs (genidd runs on both hosts throughout).
/// Downtime is libvirt's (`virDomainGetJobStats`, completed job, on the
/// destination); the whole job's time is reported too. Medians and ratios.
public struct FleetMigrateBenchmark: Sendable {
    public struct Result: Codable, Sendable {
        public var guestKernel: String
        public var rounds: Int
        public var plainDowntimeMilliseconds: [Double]
        public var genidDowntimeMilliseconds: [Double]
        public var plainJobMilliseconds: [Double]
        public var genidJobMilliseconds: [Double]
        public var plainDowntimeMedian: Double
        public var genidDowntimeMedian: Double
        /// genid median / plain median, downtime and whole job.
        public var downtimeRatio: Double
        public var jobRatio: Double
        /// Every genid migration left the guest with its value and no fork.
        public var valuesKept: Bool

        enum CodingKeys: String, CodingKey {
            case guestKernel = "guest_kernel", rounds
            case plainDowntimeMilliseconds = "plain_downtime_ms", genidDowntimeMilliseconds = "genid_downtime_ms"
            case plainJobMilliseconds = "plain_job_ms", genidJobMilliseconds = "genid_job_ms"
            case plainDowntimeMedian = "plain_downtime_median_ms", genidDowntimeMedian = "genid_downtime_median_ms"
            case downtimeRatio = "downtime_ratio", jobRatio = "job_ratio", valuesKept = "values_kept"
        }
    }

    public let settings: LabSettings
    public let rounds: Int

    public init(settings: LabSettings, rounds: Int) {
        self.settings = settings
        self.rounds = rounds
    }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> Result {
        let image = try settings.imageBuilder.image(for: settings.kernel, progress: progress)
        let (settings, rounds) = (self.settings, self.rounds)
        return try await LabFleet.with(runRoot: settings.runRoot,
                                       logPrefix: "\(settings.buildDirectory)/logs/bench-fleet-migrate-genidd",
                                       progress: progress) { fleet, _, _ in
            var domain = try await LabDomain.define(LabDomainConfiguration(image: image), connection: fleet.a.connection,
                                                    runRoot: settings.runRoot, hostRoot: fleet.a.root)
            do {
                try await domain.start()
                try await domain.waitForAgent(timeout: settings.agentTimeout)
                var here = fleet.a
                var plain: [FleetMigration] = [], genid: [FleetMigration] = []
                var valuesKept = true
                for round in 0..<rounds {
                    for withGenid in round % 2 == 0 ? [false, true] : [true, false] {
                        let there = fleet.other(than: here)
                        fleet.setHook(enabled: withGenid, on: there)
                        let (genidd, request) = (here.genidd, ControlRequest(command: .rotate, domain: domain.name))
                        let response = try await runBlocking { try genidd.send(request) }
                        guard response.ok else {
                            throw LabError.agentProtocol("genidctl rotate: \(response.error ?? "refused")")
                        }
                        let before = try await domain.observeAfterSettling()
                        let migration = try await fleet.migrate(domain, from: here, to: there)
                        domain = migration.domain
                        if withGenid {
                            let after = try await domain.observe()
                            valuesKept = valuesKept && after.value == before.value && after.forked(since: before) == false
                            genid.append(migration)
                        } else {
                            plain.append(migration)
                        }
                        here = there
                    }
                    progress("round \(round + 1)/\(rounds): downtime plain "
                                + "\(format(plain.last?.downtime?.milliseconds ?? .nan)) ms, genid "
                                + "\(format(genid.last?.downtime?.milliseconds ?? .nan)) ms")
                }
                await domain.tearDown()
                let downtimes = { (runs: [FleetMigration]) in runs.compactMap { $0.downtime?.milliseconds } }
                let jobs = { (runs: [FleetMigration]) in runs.map(\.elapsed.milliseconds) }
                let (plainDowntime, genidDowntime) = (median(downtimes(plain)), median(downtimes(genid)))
                return Result(guestKernel: image.kernel.release, rounds: rounds,
                              plainDowntimeMilliseconds: downtimes(plain), genidDowntimeMilliseconds: downtimes(genid),
                              plainJobMilliseconds: jobs(plain), genidJobMilliseconds: jobs(genid),
                              plainDowntimeMedian: plainDowntime, genidDowntimeMedian: genidDowntime,
                              downtimeRatio: genidDowntime / plainDowntime,
                              jobRatio: median(jobs(genid)) / median(jobs(plain)), valuesKept: valuesKept)
            } catch {
                await domain.tearDown()
                throw error
            }
        }
    }
}
