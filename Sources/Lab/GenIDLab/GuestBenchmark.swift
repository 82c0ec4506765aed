import GuestAgent
import AgentProtocol
import Foundation
import GenIDHost

/// `genid-lab bench guest`: what a change costs a consumer inside the
/// guest, for the kernel module and for the userspace provider, one
/// machine each (booted one after the other).
///
/// 1. Wake-up latency: before each rotation the agent arms a probe, a
///    thread blocked in read() on a fresh handle; when it wakes it writes
///    an unsolicited `0 event wakeup …` line on the agent port. The host
///    takes its clock when `cont` returns (the end of genid's rotation) and
///    again when that line arrives: latency = arrival - cont, both on the
///    host's clock (host and guest clocks are never compared). It includes
///    the virtio-serial delivery back to the host, so it is an upper bound.
/// 2. Consumer costs, measured inside the guest by the agent (`bench`
///    verb): one load of the counter from the mapped page, and one read()
///    on an outdated handle (returns at once).
public struct GuestBenchmark: Sendable {
    public struct ProviderResult: Codable, Sendable {
        public var provider: String
        public var guestKernel: String
        public var rotations: Int
        /// cont returned -> wake-up line arrived, host clock, per rotation.
        public var wakeupMilliseconds: [Double]
        public var wakeupMedian: Double
        public var wakeupP99: Double
        /// Every probe woke with the counter one above the armed one.
        public var wakeupGenerationsOK: Bool
        /// genid's rotation call (ledger, loadvm, write, cont; savevm and delvm excluded), median.
        public var rotationMedian: Double
        public var mmapNanosecondsPerOp: Double
        public var mmapOps: Int
        public var readNanosecondsPerOp: Double
        public var readP99Nanoseconds: Double
        public var readOps: Int
        /// One clock_gettime in the guest: included in each timed read.
        public var clockNanoseconds: Double

        enum CodingKeys: String, CodingKey {
            case provider, guestKernel = "guest_kernel", rotations
            case wakeupMilliseconds = "wakeup_ms", wakeupMedian = "wakeup_median_ms", wakeupP99 = "wakeup_p99_ms"
            case wakeupGenerationsOK = "wakeup_generations_ok", rotationMedian = "rotation_median_ms"
            case mmapNanosecondsPerOp = "mmap_ns_per_op", mmapOps = "mmap_ops"
            case readNanosecondsPerOp = "read_ns_per_op", readP99Nanoseconds = "read_p99_ns", readOps = "read_ops"
            case clockNanoseconds = "guest_clock_ns"
        }
    }

    public struct Result: Codable, Sendable {
        public var accelerator: String
        public var providers: [ProviderResult]
        public var note: String
    }

    public static let note = "wake-up latency: host clock from the end of QMP cont to the arrival of the guest's "
        + "wake-up line on the agent socket; includes the virtio-serial delivery back to the host, so it is an "
        + "upper bound of the in-guest wake-up. Costs: measured inside the guest, median ns per operation."

    public let settings: LabSettings
    public var rotations: Int
    public var providers: [SysGenIDABIScenario.Provider]
    public var mmapLoads: Int
    public var reads: Int

    public init(settings: LabSettings, rotations: Int = 20,
                providers: [SysGenIDABIScenario.Provider] = [.module, .userspace],
                mmapLoads: Int = 100_000, reads: Int = 2_000) {
        self.settings = settings
        self.rotations = rotations
        self.providers = providers
        self.mmapLoads = mmapLoads
        self.reads = reads
    }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> Result {
        var results: [ProviderResult] = []
        for provider in providers {
            results.append(try await run(provider: provider, progress: progress))
        }
        return Result(accelerator: settings.accelerator.rawValue, providers: results, note: GuestBenchmark.note)
    }

    func run(provider: SysGenIDABIScenario.Provider, progress: @escaping @Sendable (String) -> Void) async throws
        -> ProviderResult {
        var context = try ScenarioContext(scenario: "bench-guest-\(provider.rawValue)", settings: settings,
                                          provider: provider, progress: progress)
        let ledger = context.ledger
        let kernel = context.image.kernel.release
        let (rotations, mmapLoads, reads) = (self.rotations, self.mmapLoads, self.reads)
        return try await context.withBootedMachine { machine, _ in
            let vm = try await machine.attach(name: ScenarioContext.vmName(machine))
            let rotator = Rotator(vm: vm, store: ledger)
            guard let agent = await machine.agent else { throw LabError.agentProtocol("the agent is not connected") }
            let status = try await machine.observe()
            guard status.sysgenidProvider == provider.rawValue else {
                throw LabError.agentProtocol("the guest runs provider \(status.sysgenidProvider ?? "none"), "
                                             + "not \(provider.rawValue)")
            }

            var latencies: [Double] = [], rotationTimes: [Double] = []
            var generationsOK = true
            for index in 1...rotations {
                agent.discardEvents()
                let armed = try await agent.request(.armWakeup)
                guard let armedCounter = armed[AgentStatusField.sysgenidCounter].flatMap(Int.init) else {
                    throw LabError.agentProtocol("arm-wakeup answered without a counter")
                }
                let rotation = try await rotator.rotate()
                guard let resumedAt = rotation.resumedAt else { throw LabError.agentProtocol("no cont instant") }
                let wakeup = try await agent.nextEvent(named: AgentEvent.wakeup, timeout: .seconds(15))
                let latency = (wakeup.arrivedAt - resumedAt).milliseconds
                latencies.append(latency)
                rotationTimes.append(rotation.totalMilliseconds)
                let generation = wakeup.event["generation"].flatMap(Int.init)
                if generation != armedCounter + 1 { generationsOK = false }
                progress("\(provider.rawValue) rotation \(index)/\(rotations): woke with generation "
                         + "\(generation.map(String.init) ?? "?") \(String(format: "%.2f", latency)) ms after cont")
            }

            progress("\(provider.rawValue): measuring mmap and read() costs in the guest")
            let bench = try await machine.ask(.bench, arguments: BenchArguments(mmapLoads: mmapLoads, reads: reads).arguments,
                                              timeout: .seconds(300))
            func number(_ key: String) throws -> Double {
                guard let value = bench[key].flatMap(Double.init) else {
                    throw LabError.agentProtocol("bench answered without \(key)")
                }
                return value
            }
            return ProviderResult(
                provider: provider.rawValue, guestKernel: kernel, rotations: rotations,
                wakeupMilliseconds: latencies, wakeupMedian: median(latencies),
                wakeupP99: percentile(latencies, 0.99), wakeupGenerationsOK: generationsOK,
                rotationMedian: median(rotationTimes),
                mmapNanosecondsPerOp: try number("mmap_ns_per_op"), mmapOps: Int(try number("mmap_ops")),
                readNanosecondsPerOp: try number("read_ns_per_op"), readP99Nanoseconds: try number("read_p99_ns"),
                readOps: Int(try number("read_ops")), clockNanoseconds: try number("clock_ns"))
        }
    }
}

/// Nearest-rank percentile (0...1) of `values`.
func percentile(_ values: [Double], _ fraction: Double) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    let rank = Int((fraction * Double(sorted.count)).rounded(.up))
    return sorted[min(sorted.count - 1, max(0, rank - 1))]
}
