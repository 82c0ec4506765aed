import Foundation
import GenIDHost
import VMGenID

/// `genid-lab bench migrate`: one guest live-migrated from QEMU to QEMU,
/// alternately with QEMU alone and through genid's `Migrator` (the order
/// flipped every round), each destination becoming the next source, so
/// both kinds move the same guest under the same load. The guest's
/// downtime is QEMU's own `downtime` (source stopped until the stream is
/// done); through genid the destination then waits, paused, for genid's
/// write (`destination_pause`), which is added. Medians and their ratio.
public struct MigrateBenchmark: Sendable {
    public struct Result: Codable, Sendable {
        public var guestKernel: String
        public var rounds: Int
        public var plainDowntimeMilliseconds: [Double]
        public var genidDowntimeMilliseconds: [Double]
        public var genidDestinationPauseMilliseconds: [Double]
        public var plainMedian: Double
        public var genidMedian: Double
        /// genid median / plain median.
        public var ratio: Double
        public var destinationPauseMedian: Double

        enum CodingKeys: String, CodingKey {
            case guestKernel = "guest_kernel", rounds
            case plainDowntimeMilliseconds = "plain_downtime_ms", genidDowntimeMilliseconds = "genid_downtime_ms"
            case genidDestinationPauseMilliseconds = "genid_destination_pause_ms"
            case plainMedian = "plain_median_ms", genidMedian = "genid_median_ms", ratio
            case destinationPauseMedian = "destination_pause_median_ms"
        }
    }

    public let settings: LabSettings
    public let rounds: Int

    public init(settings: LabSettings, rounds: Int) {
        self.settings = settings
        self.rounds = rounds
    }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> Result {
        var context = try ScenarioContext(scenario: "bench-migrate", settings: settings, progress: progress)
        context.initialGenerationID = GenerationID.random()
        let ledger = context.ledger
        let incoming = context.configuration(incoming: true)
        let kernel = context.image.kernel.release
        let rounds = self.rounds
        return try await context.withBootedMachine { first, _ in
            var plain: [Double] = [], genid: [Double] = [], pauses: [Double] = []
            var current = first
            var currentVM = try await first.attach(name: ScenarioContext.vmName(first))
            // The destinations; the first machine is withBootedMachine's to stop.
            var started: [Machine] = []
            do {
                for round in 0..<rounds {
                    for throughGenid in round % 2 == 0 ? [false, true] : [true, false] {
                        let destination = try await Machine(configuration: incoming, runRoot: settings.runRoot)
                        started.append(destination)
                        let target = try await destination.attach(name: currentVM.name)
                        let uri = "unix:\(destination.directory.path)/migrate.sock"
                        do {
                            if throughGenid {
                                let migration = try await Migrator(source: currentVM, destination: target, store: ledger)
                                    .migrate(uri: uri)
                                guard let downtime = migration.qemuDowntimeMilliseconds else {
                                    throw HostError.unexpectedReply(command: "query-migrate", detail: "completed, without a downtime")
                                }
                                genid.append(downtime + migration.destinationPauseMilliseconds)
                                pauses.append(migration.destinationPauseMilliseconds)
                            } else {
                                guard let downtime = try await PlainMigration(source: currentVM, destination: target)
                                    .run(uri: uri) else {
                                    throw HostError.unexpectedReply(command: "query-migrate", detail: "completed, without a downtime")
                                }
                                plain.append(downtime)
                            }
                        } catch {
                            // A QEMU that exited explains a QMP error best.
                            try await current.checkRunning()
                            try await destination.checkRunning()
                            throw error
                        }
                        if current !== first { await current.shutdown() }  // it has handed over
                        current = destination
                        currentVM = target
                    }
                    progress("round \(round + 1)/\(rounds): downtime plain \(format(plain.last!)) ms, "
                                + "genid \(format(genid.last!)) ms")
                }
                // The guest survived every move: it still answers.
                _ = try await current.waitForAgent(timeout: settings.agentTimeout)
            } catch {
                for machine in started { await machine.shutdown() }
                throw error
            }
            for machine in started { await machine.shutdown() }
            let plainMedian = median(plain), genidMedian = median(genid)
            return Result(guestKernel: kernel, rounds: rounds, plainDowntimeMilliseconds: plain,
                          genidDowntimeMilliseconds: genid, genidDestinationPauseMilliseconds: pauses,
                          plainMedian: plainMedian, genidMedian: genidMedian, ratio: genidMedian / plainMedian,
                          destinationPauseMedian: median(pauses))
        }
    }
}
