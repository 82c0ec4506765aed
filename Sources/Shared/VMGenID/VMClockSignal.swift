/// Linux's VMClock structure (`include/uapi/linux/vmclock-abi.h`), as QEMU's
/// `-device vmclock` (QEMU >= 10) puts it in a page of its own. Stock QEMU
/// never sets `VMCLOCK_FLAG_VM_GEN_COUNTER_PRESENT` and never changes
/// `vm_generation_counter`: only the layer that drives a load knows it was
/// one. genid is that layer, so at every state load it drives it sets the
/// flag and gives both the counter and `disruption_marker` values never
/// seen before, taken from the fresh generation (which the ledger holds
/// unique): the counter from its first 8 bytes, the marker from its last 8.
///
/// The page is where the guest's own tables say (the VMCLOCK SSDT's memory
/// range, as the guest kernel finds it), and must be where QEMU's memory
/// map says (`pageAddress`): a guest cannot move the host's write by
/// rewriting its tables. The signal checks that QEMU's structure is there
/// before writing, and writes under the structure's sequence counter.
public struct VMClockSignal: GenerationSignal {
    public let name = "vmclock"
    /// Guest-physical address of the page in QEMU's memory map (`vmclock_page`).
    public let pageAddress: UInt64

    public static let magic: UInt32 = 0x4b4c_4356  // "VCLK"
    public static let vmGenerationCounterPresent: UInt64 = 1 << 8

    enum Offset {
        static let magic = 0, size = 4, version = 8, seqCount = 12
        static let disruptionMarker = 16, flags = 24, vmGenerationCounter = 104
        /// The structure up to and including the generation counter.
        static let end = 112
    }

    public init(pageAddress: UInt64) {
        self.pageAddress = pageAddress
    }

    /// The counter value a generation gives (its first 8 bytes, little-endian).
    public static func counter(for generation: GenerationID) -> UInt64 {
        littleEndian(Array(generation.rfcBytes[0..<8]))
    }

    /// The disruption marker a generation gives (its last 8 bytes).
    public static func disruptionMarker(for generation: GenerationID) -> UInt64 {
        littleEndian(Array(generation.rfcBytes[8..<16]))
    }

    public func locate(in memory: some GuestMemory) throws(VMGenIDError) -> SignalRegion {
        let table = try ACPIWalk.locateVMClock(in: memory)
        guard table.pageAddress == pageAddress else {
            throw .vmclockElsewhere(tables: table.pageAddress, qemu: pageAddress)
        }
        guard table.length >= UInt64(Offset.end) else { throw .vmclockResourceMissing }
        return try SignalRegion(signal: name, address: table.pageAddress, length: Offset.end, layout: memory.layout)
    }

    /// QEMU's structure: its magic, version 1, and a size that covers the counter.
    public func holdsDeviceState(_ region: SignalRegion, in memory: some GuestMemory,
                                 device: DeviceState) throws(VMGenIDError) -> Bool {
        let bytes = try memory.read(at: region.address, count: Offset.end)
        return Self.littleEndian(bytes[Offset.magic..<Offset.magic + 4]) == UInt64(Self.magic)
            && Self.littleEndian(bytes[Offset.version..<Offset.version + 2]) == 1
            && Self.littleEndian(bytes[Offset.size..<Offset.size + 4]) >= UInt64(Offset.end)
    }

    /// The seqcount protocol a guest reader follows from the other side:
    /// counter odd, fields, counter even. (The VM is paused, but a reader
    /// must never see a half-written structure as complete.)
    public func write(_ generation: GenerationID, into region: SignalRegion,
                      in memory: some GuestMemory) throws(VMGenIDError) {
        let bytes = try memory.read(at: region.address, count: Offset.end)
        let sequence = UInt32(truncatingIfNeeded: Self.littleEndian(bytes[Offset.seqCount..<Offset.seqCount + 4]))
        let updating = sequence & 1 == 0 ? sequence &+ 1 : sequence &+ 2
        let flags = Self.littleEndian(bytes[Offset.flags..<Offset.flags + 8]) | Self.vmGenerationCounterPresent
        let counter = Self.counter(for: generation)
        let marker = Self.disruptionMarker(for: generation)

        try memory.write(Self.bytes(UInt64(updating), count: 4), at: Offset.seqCount, in: region)
        try memory.write(Self.bytes(marker, count: 8) + Self.bytes(flags, count: 8), at: Offset.disruptionMarker,
                         in: region)
        try memory.write(Self.bytes(counter, count: 8), at: Offset.vmGenerationCounter, in: region)
        try memory.write(Self.bytes(UInt64(updating &+ 1), count: 4), at: Offset.seqCount, in: region)

        let back = try memory.read(at: region.address, count: Offset.end)
        guard Self.littleEndian(back[Offset.vmGenerationCounter..<Offset.end]) == counter,
              Self.littleEndian(back[Offset.flags..<Offset.flags + 8]) == flags,
              Self.littleEndian(back[Offset.seqCount..<Offset.seqCount + 4]) == UInt64(updating &+ 1) else {
            throw .signalVerifyFailed(signal: name, address: region.address,
                                      detail: "wrote counter \(counter), flags 0x\(String(flags, radix: 16)), sequence "
                                          + "\(updating &+ 1)")
        }
    }

    static func littleEndian(_ bytes: some Collection<UInt8>) -> UInt64 {
        bytes.reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    static func bytes(_ value: UInt64, count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }
}
