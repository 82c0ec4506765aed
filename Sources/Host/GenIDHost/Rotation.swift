import Foundation
import GenerationStore
import QMP
import VMGenID

/// What a state load through genid did.
public struct Rotation: Sendable, Codable, Equatable {
    public enum Event: String, Sendable, Codable {
        case revert, restore, rotate
    }

    public var vm: String
    public var event: Event
    /// Snapshot name or state file.
    public var source: String
    /// The fresh value now in guest memory (recorded in the ledger first).
    public var value: GenerationID
    /// Guest-physical address of the VMGENID value.
    public var slot: String
    /// The signals written ("vmgenid", and "vmclock" when QEMU has one).
    public var signals: [String] = ["vmgenid"]
    /// Milliseconds: recording the value in the ledger (before the pause),
    /// the QEMU state load, locating and writing the value, the guest's
    /// pause (stop to cont) and the whole call.
    public var ledgerMilliseconds: Double
    public var loadMilliseconds: Double
    public var writeMilliseconds: Double
    public var pauseMilliseconds: Double
    public var totalMilliseconds: Double
    /// What went wrong after the guest already runs on the fresh value (a
    /// temporary snapshot left behind): worth telling, not a failure.
    public var warnings: [String] = []
    /// When QEMU's `cont` returned (the guest runs again), on the host's
    /// continuous clock; not encoded. For latency measurements.
    public var resumedAt: ContinuousClock.Instant? = nil

    enum CodingKeys: String, CodingKey {
        case vm, event, source, value, slot, signals, ledgerMilliseconds, loadMilliseconds, writeMilliseconds
        case pauseMilliseconds, totalMilliseconds, warnings
    }
}

/// The rotation protocol: the guest must never run after a state load with
/// a value it has seen before.
///
///     record a fresh value in the ledger -> stop -> announce it (see
///     `announce`) -> load state (QEMU queues the ACPI notification) ->
///     check the slot holds QEMU's value -> write the fresh value and read
///     it back -> cont (the guest handles the notification and reads the
///     new value)
///
/// The value goes into the ledger before it reaches guest memory, so a crash
/// in between loses nothing and never reuses a value. If anything fails
/// after the load, the VM is left paused: resuming it would run the guest
/// on a stale value, the very bug this exists to prevent.
public struct Rotator: Sendable {
    public let vm: AttachedVM
    public let store: any GenerationStore
    /// Tells whoever keeps the VM's value outside QEMU (libvirt's live
    /// definition) the fresh value, while the VM is paused and before the
    /// state is loaded. If it throws, the VM resumes unchanged and the
    /// rotation fails: nothing was loaded yet.
    public let announce: (@Sendable (GenerationID) async throws -> Void)?

    public init(vm: AttachedVM, store: any GenerationStore,
                announce: (@Sendable (GenerationID) async throws -> Void)? = nil) {
        self.vm = vm
        self.store = store
        self.announce = announce
    }

    /// Reverts to internal snapshot `name` in the same QEMU process.
    public func revert(to name: String) async throws -> Rotation {
        try await loadAndRotate(event: .revert, source: name) {
            try await vm.silentMonitorCommand("loadvm \(name)")
        }
    }

    /// Takes an internal snapshot (HMP savevm); the VM keeps its run state.
    public func snapshot(named name: String) async throws {
        try await vm.silentMonitorCommand("savevm \(name)")
    }

    public func deleteSnapshot(named name: String) async throws {
        try await vm.silentMonitorCommand("delvm \(name)")
    }

    /// Gives a running VM a new generation now: snapshot to a temporary
    /// name, load it (which queues the guest notification), write, resume,
    /// delete the temporary snapshot.
    public func rotate() async throws -> Rotation {
        let temporary = "genid-rotate-\(UInt32.random(in: 0...UInt32.max))"
        try await stop()
        do {
            try await snapshot(named: temporary)
        } catch {
            try? await cont()
            throw error
        }
        var rotation: Rotation
        do {
            rotation = try await loadAndRotate(event: .rotate, source: temporary, alreadyStopped: true) {
                try await vm.silentMonitorCommand("loadvm \(temporary)")
            }
        } catch {
            try? await deleteSnapshot(named: temporary)
            throw error
        }
        // The guest already runs on the fresh value: a snapshot that will
        // not go away is a leftover to report, not a failed rotation.
        do {
            try await deleteSnapshot(named: temporary)
        } catch {
            let warning = "the temporary snapshot '\(temporary)' was left behind (\(error)); delete it with 'delvm'"
            rotation.warnings.append(warning)
            try? await store.audit(vm.identity, kind: "rotation-leftover", message: warning)
        }
        return rotation
    }

    /// Saves the VM state to `file` (a migration stream); the VM keeps its
    /// run state afterwards.
    public func save(to file: String, timeout: Duration = .seconds(300)) async throws {
        let wasRunning = try await vm.runState() == "running"
        if wasRunning { try await stop() }
        try await vm.monitor.execute("migrate", arguments: ["uri": .string("exec:cat > \(shellQuoted(file))")])
        try await vm.waitForMigration(timeout: timeout)
        if wasRunning { try await cont() }
    }

    /// Restores state from `file` into a QEMU started with `-incoming defer`.
    /// `stop` first clears QEMU's autostart, so the guest cannot run between
    /// the end of the load and the write.
    public func restore(from file: String, timeout: Duration = .seconds(300)) async throws -> Rotation {
        let state = try await vm.runState()
        guard state == "inmigrate" else { throw HostError.notInIncomingState(status: state) }
        guard FileManager.default.isReadableFile(atPath: file) else {
            throw HostError.migrationFailed(status: "not started", detail: "cannot read \(file)")
        }
        try await vm.monitor.execute("stop")
        return try await loadAndRotate(event: .restore, source: file, alreadyStopped: true) {
            try await vm.monitor.execute("migrate-incoming", arguments: ["uri": .string("exec:cat \(shellQuoted(file))")])
            try await vm.waitForMigration(timeout: timeout)
        }
    }

    private func loadAndRotate(event: Rotation.Event, source: String, alreadyStopped: Bool = false,
                               load: () async throws -> Void) async throws -> Rotation {
        let clock = ContinuousClock()
        let started = clock.now
        // Recorded before the VM pauses: the ledger's durable commit is the
        // slowest step and need not stretch the guest's pause. A value
        // recorded for a load that then fails is never given and never reused.
        let value = try await store.issueFresh(for: vm.identity, event: event.rawValue, detail: source).value
        let paused = clock.now
        if !alreadyStopped { try await stop() }
        if let announce {
            do {
                try await announce(value)
            } catch {
                try? await cont()
                throw error
            }
        }
        let loaded: ContinuousClock.Instant
        let regions: [SignalRegion]
        do {
            try await load()
            loaded = clock.now
            regions = try await vm.writeSignalsAfterLoad(value)
        } catch {
            throw await vm.leftPaused(after: error, event: event.rawValue, source: source, store: store,
                                      auditKind: "rotation-failed", note: "\(value) was recorded but not given")
        }
        let written = clock.now
        try await cont()
        let resumed = clock.now
        let slot = regions.first { $0.signal == VMGenIDSignal().name }?.description ?? "none"
        return Rotation(vm: vm.name, event: event, source: source, value: value, slot: slot,
                        signals: regions.map(\.signal),
                        ledgerMilliseconds: (paused - started).milliseconds,
                        loadMilliseconds: (loaded - paused).milliseconds,
                        writeMilliseconds: (written - loaded).milliseconds,
                        pauseMilliseconds: (resumed - paused).milliseconds,
                        totalMilliseconds: (resumed - started).milliseconds, warnings: vm.notes, resumedAt: resumed)
    }

    private func stop() async throws { try await vm.monitor.execute("stop") }
    private func cont() async throws { try await vm.monitor.execute("cont") }
}

func shellQuoted(_ path: String) -> String {
    "'" + path.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

extension Duration {
    var milliseconds: Double {
        Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15
    }
}
