import Foundation
import GenIDHost
import QMP
import VMGenID

/// Bytes at a guest-physical address: what a hostile guest writes, or what
/// was there before.
struct GuestBytes: Sendable, Equatable {
    let address: UInt64
    let bytes: [UInt8]
}

/// A guest's RAM as its root can write it, reached from the host: the lab's
/// stand-in for a hostile guest root. Guest root can write every byte of
/// its RAM, the BIOS area included (it can make the chipset's PAM registers
/// writable through the host bridge's configuration space, or load a
/// module); the lab's busybox guests under STRICT_DEVMEM cannot, so the lab
/// writes the same bytes from outside. Addresses are translated by QEMU's
/// own map of the VM (`info mtree -f`, `gpa2hva` at both ends of every RAM
/// range) and the bytes go through /proc/QEMU_PID/mem, whatever backs the RAM.
struct HostileGuestRAM: Sendable {
    let map: QEMUMemoryMap
    let memory: ProcessMemory
    var layout: GuestRAMLayout { memory.layout }

    static func open(pid: pid_t, monitor: any QEMUMonitor) async throws -> HostileGuestRAM {
        let map = try await QEMUGuestRAM.memoryMap(monitor: monitor)
        let layout = try await QEMUGuestRAM.processLayout(of: map, monitor: monitor)
        return HostileGuestRAM(map: map, memory: ProcessMemory(pid: pid, layout: layout))
    }

    func read(at address: UInt64, count: Int) throws -> [UInt8] {
        try memory.read(at: address, count: count)
    }

    /// What the RAM parts of `patch`'s range hold now, to put back later.
    func saved(_ patch: GuestBytes) throws -> [GuestBytes] {
        try layout.parts(of: patch.address, count: patch.bytes.count).map {
            GuestBytes(address: $0.address, bytes: try read(at: $0.address, count: $0.count))
        }
    }

    /// Writes the parts of `patch` that are guest RAM: a table that runs off
    /// a block into the PCI hole or a ROM is written up to there, as far as
    /// the guest itself could.
    func write(_ patch: GuestBytes) throws {
        let path = "/proc/\(memory.pid)/mem"
        let fd = Glibc.open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw LabError.commandFailed(command: "open \(path)", status: errno, output: "") }
        defer { close(fd) }
        for part in layout.parts(of: patch.address, count: patch.bytes.count) {
            guard let host = layout.backingOffset(of: part.address, count: part.count) else { continue }
            let from = Int(part.address - patch.address)
            let done = patch.bytes[from..<from + part.count].withUnsafeBytes {
                pwrite(fd, $0.baseAddress, part.count, off_t(Int64(bitPattern: host)))
            }
            guard done == part.count else {
                throw LabError.commandFailed(command: "pwrite \(path) at 0x\(String(host, radix: 16))", status: errno,
                                             output: "")
            }
        }
    }

    /// Every guest RAM range of QEMU's map, hashed a chunk at a time.
    func checksum() throws -> RAMChecksum {
        var hashes: [UInt64: Int] = [:]
        var total: UInt64 = 0
        for region in layout.regions {
            var done: UInt64 = 0
            while done < region.length {
                let address = region.guestPhysicalStart + done
                let count = min(RAMChecksum.chunk, region.length - done)
                var hasher = Hasher()
                try read(at: address, count: Int(count)).withUnsafeBytes { hasher.combine(bytes: $0) }
                hashes[address] = hasher.finalize()
                done += count
            }
            total += region.length
        }
        return RAMChecksum(hashes: hashes, bytes: total)
    }
}

/// A hash of each chunk of guest RAM (Swift's per-process seed: compare
/// only within one run), so a difference says where it is.
struct RAMChecksum: Sendable, Equatable {
    static let chunk: UInt64 = 4 << 20
    /// Chunk start (guest-physical) -> hash.
    let hashes: [UInt64: Int]
    let bytes: UInt64

    /// Starts of the chunks that differ from `other`'s, in address order.
    func changedChunks(since other: RAMChecksum) -> [UInt64] {
        Set(hashes.keys).union(other.hashes.keys).filter { hashes[$0] != other.hashes[$0] }.sorted()
    }
}
