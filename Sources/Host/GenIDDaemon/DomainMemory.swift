import Foundation
import GenIDHost
import Libvirt
import QMP
import Synchronization
import VMGenID

/// Guest RAM of a running libvirt domain, shared with genidd the way
/// vhost-user back ends share it: the domain's definition asks for
/// `<memoryBacking><source type='memfd'/><access mode='shared'/>`, QEMU
/// keeps the RAM in one memfd per memory backend (one per NUMA node), and
/// genidd maps each memfd through /proc/<qemu pid>/fd. Nothing is copied; a
/// write is the guest's RAM. A domain without it can still be rotated,
/// through /proc/<qemu pid>/mem.
///
/// Which guest-physical range lies where in which memfd comes from QEMU's
/// own map (`QEMUGuestRAM`: `info mtree -f`, `gpa2hva` of both ends of each
/// range) and the kernel's (/proc/PID/maps: the shared memfd mapping that
/// holds each range's host addresses, its inode, its offset).
enum DomainMemory {
    /// libvirt's QEMU driver writes each running domain's pid here (qemu:///system).
    static let pidDirectory = "/run/libvirt/qemu"

    /// Each QEMU process's memfd layout, asked of its monitor once. libvirt
    /// marks a domain "tainted" by the first custom monitor command, and
    /// the checks after every libvirt event would otherwise ask again and
    /// again; without QEMU's map genidd would have to guess where RAM is,
    /// which is the mistake this replaces. A rotation asks anew (it talks
    /// to the monitor anyway). Keyed by pid and start time, so a restarted
    /// domain is asked again; the memfds are mapped anew at each open, so a
    /// layout can at worst be stale (a RAM hot-unplug), never point into
    /// QEMU's own memory.
    private static let layouts = Mutex<[Int32: (process: QEMUProcess, parts: [MemfdPart])]>([:])

    /// Guest RAM in one memfd: which inode, and where each range lies in it.
    struct MemfdPart: Equatable {
        let deviceMajor: UInt64
        let deviceMinor: UInt64
        let inode: UInt64
        let layout: GuestRAMLayout
    }

    /// The shared memfds, mapped. Used by the checks after libvirt's events
    /// and by the reset repair. `refresh`: ask QEMU's map anew.
    static func open(domain: Domain, refresh: Bool = false) async throws -> any GuestMemory {
        let pid = try qemuPID(domain: domain.name)
        guard let memory = try await sharedMemory(pid: pid, monitor: LibvirtMonitor(domain: domain),
                                                  domain: domain.name, refresh: refresh) else {
            throw notShared(domain: domain.name)
        }
        return memory
    }

    /// How often a failed walk may ask QEMU's map anew, per QEMU process.
    private static let remaps = Throttle(interval: .seconds(10))

    /// Guest RAM for a rotation: the shared memfds, or else QEMU's
    /// /proc/PID/mem; QEMU's map is asked anew either way.
    static func openForRotation(domain: Domain, monitor: any QEMUMonitor) async throws -> any GuestMemory {
        let pid = try qemuPID(domain: domain.name)
        var shared = "not shared"
        do {
            if let memory = try await sharedMemory(pid: pid, monitor: monitor, domain: domain.name, refresh: true) {
                return memory
            }
        } catch {
            shared = "\(error)"  // e.g. an unsealed memfd: /proc/PID/mem reaches it without a mapping
        }
        do {
            return try await GuestMemorySource.qemuProcess(pid: pid).open(using: monitor)
        } catch {
            throw DaemonError.guestMemory(domain: domain.name, reason: "\(shared), and /proc/\(pid)/mem failed: \(error)")
        }
    }

    /// QEMU `pid`'s shared memfds, mapped, or nil when it holds none. The
    /// layout comes from the cache unless `refresh` (or the process is new).
    static func sharedMemory(pid: Int32, monitor: any QEMUMonitor, domain: String,
                             refresh: Bool) async throws -> (any GuestMemory)? {
        guard let process = QEMUProcess.of(pid: pid) else {
            throw DaemonError.guestMemory(domain: domain, reason: "QEMU (pid \(pid)) is gone")
        }
        // No memfd at all: nothing to map, and no reason to ask (and taint).
        let memfds = try memfdPaths(pid: pid, domain: domain)
        guard !memfds.isEmpty else { return nil }
        let cached = refresh ? nil : layouts.withLock { $0[pid] }.flatMap { $0.process == process ? $0.parts : nil }
        let parts: [MemfdPart]
        if let cached {
            parts = cached
        } else {
            let hostLayout: GuestRAMLayout
            do {
                hostLayout = try await QEMUGuestRAM.processLayout(of: try await QEMUGuestRAM.memoryMap(monitor: monitor),
                                                                  monitor: monitor)
            } catch {
                throw DaemonError.guestMemory(domain: domain, reason: "QEMU's memory map: \(error)")
            }
            let found = try memfdParts(domain: domain, pid: pid, hostLayout: hostLayout)
            layouts.withLock { $0[pid] = (process, found) }
            parts = found
        }
        guard !parts.isEmpty else {
            throw DaemonError.guestMemory(domain: domain, reason: "QEMU holds a memfd, but none of its RAM ranges "
                + "lies in a shared mapping of one (<access mode='shared'/> missing?)")
        }
        return try mapped(parts, memfds: memfds, domain: domain)
    }

    /// The ranges of `hostLayout` (backing offsets: QEMU's host addresses)
    /// that lie wholly in one shared memfd mapping of QEMU's, grouped by memfd.
    static func memfdParts(hostLayout: GuestRAMLayout, mappings: [ProcessMapping]) -> [MemfdPart] {
        var parts: [MemfdPart] = []
        for region in hostLayout.regions {
            guard let mapping = mappings.first(where: {
                      $0.fileOffset(of: region.backingOffset, length: region.length) != nil }),
                  mapping.shared, mapping.path.hasPrefix("/memfd:"),
                  let offset = mapping.fileOffset(of: region.backingOffset, length: region.length) else { continue }
            let inFile = GuestRAMLayout.Region(guestPhysicalStart: region.guestPhysicalStart, length: region.length,
                                               backingOffset: offset)
            if let index = parts.firstIndex(where: {
                $0.inode == mapping.inode && $0.deviceMajor == mapping.deviceMajor && $0.deviceMinor == mapping.deviceMinor
            }) {
                parts[index] = MemfdPart(deviceMajor: mapping.deviceMajor, deviceMinor: mapping.deviceMinor,
                                         inode: mapping.inode, layout: GuestRAMLayout(regions: parts[index].layout.regions + [inFile]))
            } else {
                parts.append(MemfdPart(deviceMajor: mapping.deviceMajor, deviceMinor: mapping.deviceMinor,
                                       inode: mapping.inode, layout: GuestRAMLayout(regions: [inFile])))
            }
        }
        return parts
    }

    private static func memfdParts(domain: String, pid: Int32, hostLayout: GuestRAMLayout) throws -> [MemfdPart] {
        let text: String
        do {
            // QEMU makes its own mappings: bounded, like any input of its.
            text = try WholeFile.text("/proc/\(pid)/maps", limit: 1 << 24)
        } catch {
            throw DaemonError.guestMemory(domain: domain, reason: "\(error) (is genidd root?)")
        }
        return memfdParts(hostLayout: hostLayout, mappings: ProcessMapping.parse(text))
    }

    /// /proc/PID/fd/N of every memfd QEMU holds open.
    private static func memfdPaths(pid: Int32, domain: String) throws -> [String] {
        let fdDirectory = "/proc/\(pid)/fd"
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: fdDirectory) else {
            throw DaemonError.guestMemory(domain: domain, reason: "cannot list \(fdDirectory) (is genidd root?)")
        }
        return entries.map { "\(fdDirectory)/\($0)" }.filter {
            (try? FileManager.default.destinationOfSymbolicLink(atPath: $0))?.hasPrefix("/memfd:") == true
        }
    }

    /// Maps each part's memfd, found among QEMU's memfds by its device and
    /// inode. What is mapped is checked on the descriptor genidd opened, not
    /// on the path: QEMU owns its descriptor table and could put another
    /// file (one it may only read) under the same number between a look and
    /// the open. And it must be a memfd sealed against shrinking (QEMU's
    /// memfd backends are, `seal=on` by default): a file shrunk under the
    /// mapping would kill genidd with SIGBUS at its next read.
    private static func mapped(_ parts: [MemfdPart], memfds: [String], domain: String) throws -> any GuestMemory {
        let memories: [any GuestMemory] = try parts.map { part in
            for path in memfds {
                // QEMU owns its descriptor table: the number may name a tty by
                // now (opened without O_NOCTTY it would become genidd's
                // controlling terminal, and its hang-up a SIGHUP) or a FIFO.
                let fd = Glibc.open(path, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
                guard fd >= 0 else { continue }
                defer { close(fd) }
                guard isMemfd(fd, of: part) else { continue }
                guard isSealedAgainstShrinking(fd) else {
                    throw DaemonError.guestMemory(domain: domain, reason: "its memfd (inode \(part.inode)) is not "
                        + "sealed against shrinking: genidd does not map it")
                }
                do {
                    return try MappedRAMFile(descriptor: fd, path: path, layout: part.layout)
                } catch {
                    throw DaemonError.guestMemory(domain: domain, reason: "\(error)")
                }
            }
            throw DaemonError.guestMemory(domain: domain, reason: "QEMU holds no open memfd with inode \(part.inode)")
        }
        return memories.count == 1 ? memories[0] : CombinedGuestMemory(memories)
    }

    /// The open file is the part's memfd: its device and inode, from the descriptor.
    private static func isMemfd(_ fd: Int32, of part: MemfdPart) -> Bool {
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return false }
        let device = UInt64(info.st_dev)
        // glibc's dev_t encoding (gnu_dev_major, gnu_dev_minor).
        let major = ((device >> 8) & 0xfff) | ((device >> 32) & ~UInt64(0xfff))
        let minor = (device & 0xff) | ((device >> 12) & ~UInt64(0xff))
        return UInt64(info.st_ino) == part.inode && major == part.deviceMajor && minor == part.deviceMinor
    }

    /// F_GET_SEALS answers only for memfds (and shmem); F_SEAL_SHRINK.
    private static func isSealedAgainstShrinking(_ fd: Int32) -> Bool {
        let getSeals: Int32 = 1024 + 10, sealShrink: Int32 = 0x0002  // linux/fcntl.h
        let seals = fcntl(fd, getSeals)
        return seals >= 0 && seals & sealShrink != 0
    }

    private static func notShared(domain: String) -> DaemonError {
        .guestMemory(domain: domain, reason: "its RAM is not shared with the host: add "
            + "<memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking> to the domain "
            + "(see qemu/libvirt-domain.xml); effective at the next start")
    }

    /// The directory libvirt gives the running domain's QEMU (`<libDir>`
    /// of its status in /run/libvirt/qemu): QEMU may write there, whatever
    /// user and confinement it runs with, and only root besides it.
    static func privateDirectory(domain: String) throws(DaemonError) -> String {
        let file = "\(pidDirectory)/\(domain).xml"
        guard let status = try? WholeFile.text(file, limit: 16 << 20),
              let path = LibvirtStatusFile.libDirectory(in: status) else {
            throw .guestMemory(domain: domain, reason: "no <libDir> in \(file)")
        }
        return path
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
    /// A map kept from before the guest ran may be out of date (a domain
    /// started paused: the BIOS area was still ROM, and the RSDP is not in
    /// it): when the walk fails, QEMU's map is asked anew, at most every
    /// 10 s per QEMU process.
    static func guestValue(domain: Domain) async throws -> GenerationID {
        let pid = try qemuPID(domain: domain.name)
        do {
            return try value(in: try await open(domain: domain), domain: domain.name)
        } catch {
            guard remaps.admit("\(pid)") != nil else { throw error }
            return try value(in: try await open(domain: domain, refresh: true), domain: domain.name)
        }
    }

    private static func value(in memory: any GuestMemory, domain: String) throws -> GenerationID {
        do {
            let slot = try ACPIWalk.locateVMGenID(in: memory).slot
            return try memory.readValue(at: slot)
        } catch {
            throw DaemonError.guestMemory(domain: domain, reason: "\(error)")
        }
    }
}
