import Foundation
import GenIDHost
import QMP
import VMGenID

/// Guest RAM of a running libvirt domain, shared with genidd the way
/// vhost-user back ends share it: the domain's definition asks for
/// `<memoryBacking><source type='memfd'/><access mode='shared'/>`, QEMU
/// keeps the RAM in a memfd, and genidd maps that memfd through
/// /proc/<qemu pid>/fd. Nothing is copied; a write is the guest's RAM.
/// A domain without it can still be rotated, through /proc/<qemu pid>/mem.
enum DomainMemory {
    /// libvirt's QEMU driver writes each running domain's pid here (qemu:///system).
    static let pidDirectory = "/run/libvirt/qemu"
    /// Guest RAM is the largest memfd; smaller ones (if any) are not RAM.
    static let minimumRAMBytes: Int64 = 16 << 20

    /// The shared memfd, mapped. Checks use only this: it needs nothing
    /// from QEMU, so looking never taints the domain.
    static func open(domain: String) throws(DaemonError) -> MappedRAMFile {
        let pid = try qemuPID(domain: domain)
        guard let path = try sharedRAMPath(domain: domain, pid: pid) else {
            throw .guestMemory(domain: domain, reason: "its RAM is not shared with the host: add "
                + "<memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking> to the domain "
                + "(see qemu/libvirt-domain.xml); effective at the next start")
        }
        do {
            return try MappedRAMFile(path: path)
        } catch {
            throw .guestMemory(domain: domain, reason: "\(error)")
        }
    }

    /// Guest RAM for a rotation: the shared memfd, or else QEMU's
    /// /proc/PID/mem with host addresses from the monitor (`gpa2hva`),
    /// which a rotation goes through anyway.
    static func openForRotation(domain: String, monitor: any QEMUMonitor) async throws -> any GuestMemory {
        let pid = try qemuPID(domain: domain)
        if try sharedRAMPath(domain: domain, pid: pid) != nil { return try open(domain: domain) }
        do {
            return try await GuestMemorySource.qemuProcess(pid: pid).open(using: monitor)
        } catch {
            throw DaemonError.guestMemory(domain: domain, reason: "not shared, and /proc/\(pid)/mem failed: \(error)")
        }
    }

    /// /proc/PID/fd/N of the guest RAM memfd; nil if QEMU holds none (RAM not shared).
    private static func sharedRAMPath(domain: String, pid: Int32) throws(DaemonError) -> String? {
        let fdDirectory = "/proc/\(pid)/fd"
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: fdDirectory) else {
            throw .guestMemory(domain: domain, reason: "cannot list \(fdDirectory) (is genidd root?)")
        }
        var best: (path: String, size: Int64)?
        for entry in entries {
            let path = "\(fdDirectory)/\(entry)"
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: path),
                  target.hasPrefix("/memfd:") else { continue }
            var info = stat()
            guard stat(path, &info) == 0, Int64(info.st_size) >= minimumRAMBytes else { continue }
            if Int64(info.st_size) > best?.size ?? 0 { best = (path, Int64(info.st_size)) }
        }
        return best?.path
    }

    static func qemuPID(domain: String) throws(DaemonError) -> Int32 {
        let file = "\(pidDirectory)/\(domain).pid"
        guard let text = try? String(contentsOfFile: file, encoding: .utf8),
              let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0 else {
            throw .guestMemory(domain: domain, reason: "no QEMU pid in \(file)")
        }
        return pid
    }

    /// The value the guest sees: the 16 bytes its ACPI tables point at.
    static func guestValue(domain: String) throws(DaemonError) -> GenerationID {
        let memory = try open(domain: domain)
        do {
            let slot = try ACPIWalk.locateVMGenID(in: memory).slot
            return try memory.readValue(at: slot)
        } catch {
            throw .guestMemory(domain: domain, reason: "\(error)")
        }
    }
}
