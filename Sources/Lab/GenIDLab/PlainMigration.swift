import GenIDHost

/// QEMU's own live migration, as libvirt drives it: the destination starts
/// by itself at the end of the stream, running whatever its vmgenid device
/// put in the page. The lab's baseline for `Migrator`.
struct PlainMigration: Sendable {
    let source: AttachedVM
    let destination: AttachedVM

    /// Migrates and waits until the destination runs; returns QEMU's
    /// `downtime` in milliseconds.
    func run(uri: String) async throws -> Double? {
        try await destination.monitor.execute("migrate-incoming", arguments: ["uri": .string(uri)])
        try await source.monitor.execute("migrate", arguments: ["uri": .string(uri)])
        let report = try await source.waitForMigration(timeout: .seconds(300))
        let deadline = ContinuousClock.now + .seconds(60)
        while try await destination.runState() != "running", ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        return report["downtime"]?.intValue.map(Double.init)
    }
}
