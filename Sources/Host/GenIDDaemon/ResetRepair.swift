import Foundation
import Libvirt
import Logging
import VMGenID

/// After a guest reset, stock QEMU's vmgenid device gives the firmware its
/// own value again (libvirt's live `<genid>`): after a genid rotation in the
/// same QEMU process that value is one the guest had before. The firmware
/// puts it into the page seconds before the guest's kernel reads it (the
/// kernel has still to be loaded and started); genidd watches the page,
/// and as soon as it holds the stale value, pauses the guest, writes the
/// value the guest had back, and resumes it. What is left is a race the
/// guest would have to win by booting its kernel faster than genidd
/// reacts: `genidctl status` keeps naming the stale device value.
enum ResetRepair {
    /// Watches `domain`'s page (shared guest RAM, `DomainMemory.open`) for up to `limit`; once
    /// it holds `stale`, writes `current` there with the domain paused.
    /// Returns the time from the call to the write, or nil if the page never
    /// showed `stale` (nothing written).
    static func reassert(_ current: GenerationID, replacing stale: GenerationID, in domain: Domain,
                         within limit: Duration, logger: Logger) async throws -> Duration? {
        let memory = try await DomainMemory.open(domain: domain)
        let signal = VMGenIDSignal()
        let device = DeviceState(vmgenid: stale)
        let started = ContinuousClock.now
        var located = RememberedWalk.Cache()
        var seen = ""
        while ContinuousClock.now - started < limit {
            // The page moves if the firmware allocates it elsewhere; the
            // tables say so, and only then is the walk done again.
            let region = located.region(in: memory)
            let now = region.map { "\($0.address) " + ((try? memory.read(at: $0.address, count: 16)).flatMap {
                GenerationID(guestBytes: $0)?.description } ?? "?") } ?? "no page"
            if now != seen {
                logger.debug("after reset", metadata: ["domain": "\(domain.name)", "page": "\(now)",
                    "walks": "\(located.walks)",
                    "ms": "\(String(format: "%.1f", (ContinuousClock.now - started).seconds * 1000))"])
                seen = now
            }
            if let region, (try? signal.holdsDeviceState(region, in: memory, device: device)) == true {
                try domain.suspend()
                do {
                    // Paused: check again, then write only inside the located region.
                    if try signal.holdsDeviceState(region, in: memory, device: device) {
                        try signal.write(current, into: region, in: memory)
                        try domain.resume()
                        return ContinuousClock.now - started
                    }
                    try domain.resume()
                } catch {
                    try? domain.resume()
                    throw error
                }
            }
            try await Task.sleep(for: .milliseconds(1))
        }
        return nil
    }

    /// When the domain's QEMU process started: records made before it
    /// belong to an earlier run of the domain.
    static func qemuStarted(domain: String) throws -> Date {
        let pid = try DomainMemory.qemuPID(domain: domain)
        guard let started = QEMUProcess.of(pid: pid)?.started else {
            throw DaemonError.guestMemory(domain: domain, reason: "cannot read when QEMU (pid \(pid)) started")
        }
        return started
    }
}
