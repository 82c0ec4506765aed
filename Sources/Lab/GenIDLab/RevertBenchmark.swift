import Foundation
import GenIDHost
import VMGenID

/// `genid-lab bench revert`: on one guest, alternately, plain QEMU reverts
/// (stop, loadvm, cont) and genid reverts (the same plus a fresh value
/// recorded, written and verified), so both see the same machine load.
/// Reported as medians and their ratio; never as absolute claims.
public struct RevertBenchmark: Sendable {
    public struct Result: Codable, Sendable {
        public var guestKernel: String
        public var rounds: Int
        public var plainMilliseconds: [Double]
        public var genidMilliseconds: [Double]
        public var plainMedian: Double
        public var genidMedian: Double
        /// genid median / plain median.
        public var ratio: Double
        /// genid median - plain median.
        public var addedMedian: Double
        /// genid's own steps: the ledger commit plus locating, writing and
        /// verifying the value, median.
        public var rotationStepMedian: Double
        /// The guest's pause (stop to cont) in a genid revert, median; the
        /// plain revert's pause is its whole time.
        public var genidPauseMedian: Double
        /// ACPI walk through guest RAM (the first location of the page), median of repeats.
        public var locateMedian: Double
        /// One write-and-verify of 16 bytes, median.
        public var writeAndVerifyMedian: Double

        enum CodingKeys: String, CodingKey {
            case guestKernel = "guest_kernel", rounds
            case plainMilliseconds = "plain_ms", genidMilliseconds = "genid_ms"
            case plainMedian = "plain_median_ms", genidMedian = "genid_median_ms", ratio
            case addedMedian = "added_median_ms", rotationStepMedian = "rotation_step_median_ms"
            case genidPauseMedian = "genid_pause_median_ms"
            case locateMedian = "locate_median_ms", writeAndVerifyMedian = "write_and_verify_median_ms"
        }
    }

    public let settings: LabSettings
    public let rounds: Int

    public init(settings: LabSettings, rounds: Int) {
        self.settings = settings
        self.rounds = rounds
    }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> Result {
        var context = try ScenarioContext(scenario: "bench-revert", settings: settings, progress: progress)
        let ledger = context.ledger
        let rounds = self.rounds
        let kernel = context.image.kernel.release
        return try await context.withBootedMachine { machine, _ in
            let vm = try await machine.attach(name: ScenarioContext.vmName(machine))
            let rotator = Rotator(vm: vm, store: ledger)
            let clock = ContinuousClock()
            try await rotator.snapshot(named: "genid-bench")

            var plain: [Double] = [], genid: [Double] = [], rotationSteps: [Double] = [], genidPauses: [Double] = []
            for round in 0..<rounds {
                // Alternate which goes first, so drift hits both alike.
                for useGenid in round % 2 == 0 ? [false, true] : [true, false] {
                    if useGenid {
                        // Wall time of the whole call, ledger included.
                        let started = clock.now
                        let rotation = try await rotator.revert(to: "genid-bench")
                        genid.append((clock.now - started).milliseconds)
                        genidPauses.append(rotation.pauseMilliseconds)
                        rotationSteps.append(rotation.ledgerMilliseconds + rotation.writeMilliseconds)
                    } else {
                        let started = clock.now
                        try await vm.monitor.execute("stop")
                        _ = try await vm.monitor.humanMonitorCommand("loadvm genid-bench")
                        try await vm.monitor.execute("cont")
                        plain.append((clock.now - started).milliseconds)
                    }
                }
                progress("round \(round + 1)/\(rounds): plain \(format(plain.last!)) ms, genid \(format(genid.last!)) ms")
            }

            var locate: [Double] = [], write: [Double] = []
            try await vm.monitor.execute("stop")
            let current = try vm.guestMemoryValue()
            for _ in 0..<50 {
                let started = clock.now
                let signal = VMGenIDSignal()
                let region = try vm.region(of: signal, refresh: true)
                locate.append((clock.now - started).milliseconds)
                let writeStarted = clock.now
                // The value already there: measures the cost, changes nothing.
                try signal.write(current, into: region, in: vm.memory)
                write.append((clock.now - writeStarted).milliseconds)
            }
            try await vm.monitor.execute("cont")

            let plainMedian = median(plain), genidMedian = median(genid)
            return Result(guestKernel: kernel, rounds: rounds, plainMilliseconds: plain, genidMilliseconds: genid,
                          plainMedian: plainMedian, genidMedian: genidMedian, ratio: genidMedian / plainMedian,
                          addedMedian: genidMedian - plainMedian, rotationStepMedian: median(rotationSteps),
                          genidPauseMedian: median(genidPauses),
                          locateMedian: median(locate), writeAndVerifyMedian: median(write))
        }
    }
}

func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

func format(_ value: Double) -> String { String(format: "%.1f", value) }
