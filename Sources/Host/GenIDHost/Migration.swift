import Foundation
import GenerationStore
import QMP
import VMGenID

/// What a live migration through genid did.
public struct Migration: Sendable, Codable, Equatable {
    public var vm: String
    /// The value the guest had before and has after: a migration is not a
    /// new generation.
    public var value: GenerationID
    /// What the destination's vmgenid device wrote into the page at the
    /// incoming load, and genid replaced before the guest ran.
    public var destinationDeviceValue: GenerationID
    public var uri: String
    /// Milliseconds: the whole call, and the destination's pause from the
    /// end of the load to `cont` (genid's part of the downtime).
    public var totalMilliseconds: Double
    public var destinationPauseMilliseconds: Double
    /// QEMU's own `downtime`: the source stopped until the stream was done.
    /// The guest's downtime through genid is this plus the destination's pause.
    public var qemuDowntimeMilliseconds: Double?
}

/// Moves a running VM to another QEMU process without giving it a new
/// generation, and without telling it of a fork that did not happen.
///
///     destination: stop (clears autostart) -> migrate-incoming URI
///     source: migrate URI -> completed (the source is paused)
///     destination: the load has written the device's own guid into the
///       page and queued the ACPI notification -> check each signal region
///       holds the device's state -> write the value the guest had, read
///       it back -> cont (the guest finds its own value: no fork)
///
/// QEMU's vmgenid device holds the value it was created with, not the one
/// genid gave later; without the write the guest would get an old value
/// back. If anything fails after the destination's load, the destination
/// stays paused and the source keeps its state (QEMU resumes a source
/// whose migration failed), so the guest never runs on a stale value.
public struct Migrator: Sendable {
    public let source: AttachedVM
    public let destination: AttachedVM
    public let store: any GenerationStore

    public init(source: AttachedVM, destination: AttachedVM, store: any GenerationStore) {
        self.source = source
        self.destination = destination
        self.store = store
    }

    public func migrate(uri: String, timeout: Duration = .seconds(300)) async throws -> Migration {
        let clock = ContinuousClock()
        let started = clock.now
        let state = try await destination.runState()
        guard state == "inmigrate" else { throw HostError.notInIncomingState(status: state) }
        // The value the guest runs with now; the destination must show it.
        let value = try source.guestMemoryValue()
        try await destination.monitor.execute("stop")
        try await destination.monitor.execute("migrate-incoming", arguments: ["uri": .string(uri)])
        try await source.monitor.execute("migrate", arguments: ["uri": .string(uri)])
        let report = try await source.waitForMigration(timeout: timeout)
        try await waitUntilLoaded(destination, timeout: timeout)
        let loaded = clock.now
        let deviceValue: GenerationID
        do {
            deviceValue = try await destination.qemuValue()
            _ = try await destination.writeSignalsAfterLoad(value)
        } catch {
            throw await destination.leftPaused(after: error, event: "migration", source: uri, store: store,
                                               auditKind: "migration-failed", note: "the destination keeps \(value) unwritten")
        }
        try await destination.monitor.execute("cont")
        let resumed = clock.now
        try? await store.audit(destination.identity, kind: "migrated",
                               message: "\(value) kept across a live migration to \(uri) "
                                + "(the destination's device held \(deviceValue))")
        return Migration(vm: destination.name, value: value, destinationDeviceValue: deviceValue, uri: uri,
                         totalMilliseconds: (resumed - started).milliseconds,
                         destinationPauseMilliseconds: (resumed - loaded).milliseconds,
                         qemuDowntimeMilliseconds: report["downtime"]?.intValue.map(Double.init))
    }

    /// The destination has loaded the whole stream and no longer waits for
    /// one. Asked only once the source is done, when the load ends within
    /// milliseconds: every millisecond polled here is the guest's downtime.
    private func waitUntilLoaded(_ vm: AttachedVM, timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await vm.runState() != "inmigrate" { return }
            try await Task.sleep(for: .milliseconds(1))
        }
        throw HostError.timeout(what: "the incoming migration", seconds: Double(timeout.components.seconds))
    }
}
