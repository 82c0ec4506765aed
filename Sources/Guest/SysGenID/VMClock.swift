#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Linux's VMClock device (`/dev/vmclock0`, Linux >= 7.0 with the
/// `ptp_vmclock` driver): one read-only page the hypervisor updates under a
/// sequence counter. Its `vm_generation_counter` changes to a value never
/// seen before at every load from a saved state, when the hypervisor says
/// it does (`vmGenerationCounterPresent`); stock QEMU never sets that flag,
/// genid's host side does at every state load it drives.
///
/// The layout is the kernel's `include/uapi/linux/vmclock-abi.h`
/// (little-endian fields).
public final class VMClock: @unchecked Sendable {
    public static let defaultPath = "/dev/vmclock0"
    /// "VCLK", little-endian.
    public static let magic: UInt32 = 0x4b4c_4356
    /// `VMCLOCK_FLAG_VM_GEN_COUNTER_PRESENT`.
    public static let vmGenerationCounterPresent: UInt64 = 1 << 8

    enum Offset {
        static let magic = 0, size = 4, version = 8, seqCount = 12
        static let disruptionMarker = 16, flags = 24, vmGenerationCounter = 104
        /// The structure up to and including the generation counter.
        static let end = 112
    }

    /// One consistent look at the page (taken while no update was in progress).
    public struct Reading: Sendable, Equatable {
        public var sequence: UInt32
        public var flags: UInt64
        public var disruptionMarker: UInt64
        public var vmGenerationCounter: UInt64
        /// Whether the hypervisor maintains `vmGenerationCounter`.
        public var counterPresent: Bool { flags & VMClock.vmGenerationCounterPresent != 0 }
    }

    public let path: String
    private let page: UnsafeRawPointer
    private let length: Int

    /// Maps the device read-only, as any user the device's mode allows.
    public init(path: String = VMClock.defaultPath) throws(SysGenIDError) {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SysGenIDError(.current, "open", path: path) }
        defer { close(fd) }
        let length = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard let mapped = mmap(nil, length, PROT_READ, MAP_SHARED, fd, 0), mapped != MAP_FAILED else {
            throw SysGenIDError(.current, "mmap", path: path)
        }
        self.page = UnsafeRawPointer(mapped)
        self.length = length
        let magic = UInt32(littleEndian: page.loadUnaligned(fromByteOffset: Offset.magic, as: UInt32.self))
        let size = UInt32(littleEndian: page.loadUnaligned(fromByteOffset: Offset.size, as: UInt32.self))
        guard magic == VMClock.magic, size >= Offset.end else {
            munmap(UnsafeMutableRawPointer(mutating: page), length)
            throw SysGenIDError(.EPROTO, "mmap", path: path,
                                detail: "not a VMClock structure (magic 0x\(String(magic, radix: 16)), size \(size))")
        }
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: page), length) }

    /// Reads the page under its sequence counter: retried while an update
    /// is in progress (odd counter) or happened during the read.
    public func read() -> Reading {
        while true {
            // The fences keep the compiler and the CPU from reusing or
            // reordering loads of the page across them.
            atomicMemoryFence(ordering: .acquiring)
            let before = sequence()
            guard before & 1 == 0 else { sched_yield(); continue }
            atomicMemoryFence(ordering: .acquiring)
            let reading = Reading(sequence: before, flags: field(Offset.flags),
                                  disruptionMarker: field(Offset.disruptionMarker),
                                  vmGenerationCounter: field(Offset.vmGenerationCounter))
            atomicMemoryFence(ordering: .acquiring)
            if sequence() == before { return reading }
        }
    }

    private func sequence() -> UInt32 {
        UInt32(littleEndian: page.advanced(by: Offset.seqCount).assumingMemoryBound(to: UInt32.self).pointee)
    }

    private func field(_ offset: Int) -> UInt64 {
        UInt64(littleEndian: page.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
}
