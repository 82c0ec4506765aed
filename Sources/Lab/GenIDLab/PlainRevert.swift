import GenIDHost

/// QEMU's own revert to an internal snapshot, without genid: stop, loadvm,
/// cont. The guest runs on whatever the snapshot holds. The lab's baseline
/// for `Rotator.revert`.
struct PlainRevert: Sendable {
    let vm: AttachedVM

    /// Reverts to `snapshot`; returns the stop-to-cont time in milliseconds.
    func run(to snapshot: String) async throws -> Double {
        let clock = ContinuousClock()
        let started = clock.now
        try await vm.monitor.execute("stop")
        _ = try await vm.monitor.humanMonitorCommand("loadvm \(snapshot)")
        try await vm.monitor.execute("cont")
        return (clock.now - started).milliseconds
    }
}
