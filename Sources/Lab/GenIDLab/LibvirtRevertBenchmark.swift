import Foundation
import GenIDControl
import VMGenID
import Libvirt

/// libvirt's own running revert (it restarts QEMU) against genid's
/// in-process revert of the same guest (`genidctl revert DOMAIN SNAPSHOT`:
/// a genidctl process, genidd's control socket, then stop / loadvm / fresh
/// value / cont through libvirt's monitor passthrough), alternating rounds.
public struct LibvirtRevertBenchmark: Sendable {
    public struct Result: Codable, Sendable {
        public var guestKernel: String
        public var rounds: Int
        /// Until the call returned (libvirt API; genidctl process exit).
        public var libvirtMilliseconds: [Double]
        public var genidctlMilliseconds: [Double]
        /// Until the guest agent answered a ping again.
        public var libvirtToAgentMilliseconds: [Double]
        public var genidctlToAgentMilliseconds: [Double]
        public var libvirtMedian: Double
        public var genidctlMedian: Double
        /// genidctl / libvirt: below 1, genid's revert is faster.
        public var ratio: Double
        public var libvirtToAgentMedian: Double
        public var genidctlToAgentMedian: Double
        public var toAgentRatio: Double
        /// genidd's own measurement of its revert (stop to cont), median.
        public var genidPauseMedian: Double
    }

    public let settings: LabSettings
    public let rounds: Int

    public init(settings: LabSettings, rounds: Int) {
        self.settings = settings
        self.rounds = rounds
    }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> Result {
        var result: Result?
        let report = await LibvirtScenarioContext.report(scenario: "bench-libvirt-revert", settings: settings,
                                                         progress: progress) { context in
            let shared = context
            let rounds = self.rounds
            result = try await context.withBootedDomain { domain, report in
                try await runBlocking { try domain.domain.createSnapshot(named: "genid-bench") }
                let genidctl = (LabGenidd.executablePath as NSString).deletingLastPathComponent + "/genidctl"
                var libvirt: [Double] = [], genid: [Double] = [], libvirtAgent: [Double] = [], genidAgent: [Double] = []
                var pauses: [Double] = []
                var unseen = 0
                for round in 1...rounds {
                    for libvirtFirst in [round % 2 == 0, round % 2 != 0] {
                        let clock = ContinuousClock()
                        let started = clock.now
                        if libvirtFirst {
                            try await runBlocking {
                                try domain.domain.revertToSnapshot(named: "genid-bench", options: [.running])
                            }
                            libvirt.append((clock.now - started).milliseconds)
                            try await domain.reconnectAgent()
                            libvirtAgent.append((clock.now - started).milliseconds)
                        } else {
                            let output = try await runBlocking {
                                try Subprocess.check([genidctl, "revert", domain.name, "genid-bench", "--json",
                                                      "--socket", shared.genidd.socketPath])
                            }
                            genid.append((clock.now - started).milliseconds)
                            _ = try await domain.ask(.ping, arguments: [], timeout: .seconds(30))
                            genidAgent.append((clock.now - started).milliseconds)
                            let response = try ControlCoding.decode(ControlResponse.self, from: Data(output.utf8))
                            if let pause = response.rotation?.pauseMilliseconds { pauses.append(pause) }
                            let guest = try await domain.observe()
                            if guest.value?.description != response.rotation?.value { unseen += 1 }
                        }
                    }
                    progress("round \(round): libvirt \(Int(libvirt.last!)) ms, genidctl \(Int(genid.last!)) ms")
                }
                report.check("every genidctl revert was measured by genidd", pauses.count == rounds)
                report.check("the guest saw the value of every genidctl revert", unseen == 0, "\(unseen) not seen")
                // And `genidctl rotate`: a new generation without a snapshot of the caller's.
                let output = try await runBlocking {
                    try Subprocess.check([genidctl, "rotate", domain.name, "--json", "--socket", shared.genidd.socketPath])
                }
                let rotated = try ControlCoding.decode(ControlResponse.self, from: Data(output.utf8)).rotation?.value
                let guest = try await domain.observe()
                report.check("the guest sees the value of genidctl rotate", rotated != nil
                                && guest.value?.description == rotated,
                             "genidd \(rotated ?? "none"), guest \(guest.value?.description ?? "none")")
                let record = await LabReport.record(of: rotated.flatMap(GenerationID.init), in: shared.ledger)
                report.check("genidctl rotate's value is in the ledger", record?.vm.name == domain.name)
                // Status names the holder left stale by the rotation: libvirt's
                // live <genid>, QEMU's device value.
                let statusOutput = try await runBlocking {
                    try Subprocess.check([genidctl, "status", domain.name, "--json", "--socket", shared.genidd.socketPath])
                }
                let status = try ControlCoding.decode(ControlResponse.self, from: Data(statusOutput.utf8)).status?.first
                report.check("status shows the guest's value as current and names libvirt's as stale",
                             status?.guestMemoryValue == rotated && status?.liveValue == rotated
                                && status?.libvirtValue != rotated
                                && status?.disagreement?.contains(status?.libvirtValue ?? "-") == true,
                             "guest \(status?.guestMemoryValue ?? "-"), libvirt \(status?.libvirtValue ?? "-"), "
                                + "disagreement \(status?.disagreement ?? "none")")
                return Result(
                    guestKernel: shared.image.kernel.release, rounds: rounds,
                    libvirtMilliseconds: libvirt, genidctlMilliseconds: genid,
                    libvirtToAgentMilliseconds: libvirtAgent, genidctlToAgentMilliseconds: genidAgent,
                    libvirtMedian: median(libvirt), genidctlMedian: median(genid),
                    ratio: median(genid) / median(libvirt),
                    libvirtToAgentMedian: median(libvirtAgent), genidctlToAgentMedian: median(genidAgent),
                    toAgentRatio: median(genidAgent) / median(libvirtAgent), genidPauseMedian: median(pauses))
            }
        }
        guard report.passed, let result else {
            throw LabError.commandFailed(command: "bench libvirt-revert", status: 1, output: report.summary())
        }
        return result
    }
}
