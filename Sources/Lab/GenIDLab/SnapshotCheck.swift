import Foundation
import GenIDHost
import GenerationStore
import SQLiteGenerationStore
import VMGenID

/// `genid-lab check`: is the software in a guest safe when one snapshot
/// becomes many guests?
///
/// One guest boots; the resident commands start; every probe runs once
/// (the source's outputs); then one snapshot becomes `--clones N` guests
/// (a saved state restored into N new QEMU processes, several at a time)
/// or is reverted to `--reverts N` times in the same QEMU. After each
/// restore every probe runs again, through the QEMU guest agent, and the
/// outputs are compared: a `distinct` probe must print something no other
/// guest printed, an `equal` one what the source printed.
///
/// Every QEMU starts with the same `-device vmgenid,guid=`, as libvirt
/// starts a restored domain with its `<genid>`. With genid (the default)
/// each restore gives the guest a fresh value in its paused window;
/// `without-genid` restores as QEMU alone does, and the guest sees no change.
public struct SnapshotCheck: Sendable {
    public static let name = "check"

    public enum Mode: String, Sendable, CaseIterable {
        case genid
        case withoutGenID = "without-genid"
    }

    public enum Fanout: Sendable, Equatable {
        /// One saved state restored into N new QEMU processes.
        case clones(Int)
        /// One internal snapshot reverted to N times in one QEMU.
        case reverts(Int)
    }

    public var settings: LabSettings
    public var probes: [GuestProbe]
    public var guest = CheckGuest.labImage
    public var memoryMiB = 512
    public var cpus = 1
    /// More QEMU arguments for every machine (extra devices).
    public var extraQEMUArguments: [String] = []
    /// Shell commands started in the background before the snapshot: the
    /// resident programs whose state the probes then ask about.
    public var residents: [String] = []
    public var fanout = Fanout.clones(4)
    public var mode = Mode.genid
    /// Clones restored at once.
    public var parallel = max(1, ProcessInfo.processInfo.activeProcessorCount)
    /// Keep the consoles of the guests whose probes failed (else every
    /// console is removed at the end).
    public var keepConsoles = false
    public var probeTimeout = Duration.seconds(30)

    public init(settings: LabSettings, probes: [GuestProbe]) {
        self.settings = settings
        self.probes = probes
    }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async -> LabReport {
        var report = LabReport(scenario: SnapshotCheck.name, backend: "qemu")
        report.accelerator = settings.accelerator.rawValue
        let consoles = CheckConsoles(directory: "\(settings.buildDirectory)/logs/check-\(getpid())-\(UInt16.random(in: 0...UInt16.max))")
        do {
            let guest = try guest.resolve(settings: settings, progress: progress)
            report.guestKernel = guest.image.kernel.release
            let stateDirectory = "\(settings.runRoot)/check-state-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: stateDirectory) }
            let run = try CheckRun(check: self, guest: guest, stateDirectory: stateDirectory,
                                   ledger: try SQLiteGenerationStore(path: settings.ledgerPath), consoles: consoles,
                                   progress: progress)
            let (source, instances) = try await {
                switch fanout {
                case .clones(let count): return try await run.clones(count, report: &report)
                case .reverts(let count): return try await run.reverts(count, report: &report)
                }
            }()
            for (index, probe) in probes.enumerated() {
                let verdict = ProbeVerdict(probe: probe, mode: mode.rawValue, source: source[index],
                                           outputs: instances.map { $0.outputs[index] })
                report.probes = (report.probes ?? []) + [verdict]
                report.check("probe \(probe.name): \(probe.expectation.rawValue) (\(mode.rawValue))", verdict.passed,
                             verdict.summary)
            }
            for instance in instances {
                report.restores.append(LabReport.Restore(hostGuid: instance.givenValue, elapsedMs: instance.restoreMilliseconds))
            }
        } catch {
            report.error = (error as? LabError)?.oneLine ?? "\(error)".split(whereSeparator: \.isNewline).joined(separator: " ")
            report.check("check ran to completion", false, report.error ?? "")
        }
        report.conclude()
        let failing = report.error != nil ? nil : Set((report.probes ?? []).filter { !$0.passed }.flatMap(\.blamed))
        report.consoleLog = consoles.finish(keep: keepConsoles, only: failing)
        return report
    }
}

extension ProbeVerdict {
    /// The instances a failed verdict points at: those that collided,
    /// failed or differed.
    var blamed: [String] {
        switch expect {
        case .distinct: return collisions.flatMap { $0 } + failed
        case .equal: return outputs.filter { $0.output != source.output || $0.error != nil }.map(\.instance) + failed
        }
    }
}

/// Where a check keeps its guests' consoles while it runs, and which it
/// leaves behind.
struct CheckConsoles: Sendable {
    let directory: String

    func path(_ instance: String) -> String { "\(directory)/\(instance).console.log" }

    /// Removes the consoles not asked for; `only` nil keeps them all (the
    /// check stopped early). Returns the directory when something is kept.
    func finish(keep: Bool, only: Set<String>?) -> String? {
        let manager = FileManager.default
        guard keep else {
            try? manager.removeItem(atPath: directory)
            return nil
        }
        if let only {
            for file in (try? manager.contentsOfDirectory(atPath: directory)) ?? []
            where !only.contains(String(file.dropLast(".console.log".count))) {
                try? manager.removeItem(atPath: "\(directory)/\(file)")
            }
        }
        guard let left = try? manager.contentsOfDirectory(atPath: directory), !left.isEmpty else {
            try? manager.removeItem(atPath: directory)
            return nil
        }
        return directory
    }
}
