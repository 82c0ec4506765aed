import Synchronization
import VMGenID

/// Guest RAM as a byte array, for unit tests of the ACPI walk, the write
/// rule and the rotation protocol. Like the real implementations, it refuses any access outside
/// its layout, and it counts what it was asked.
public final class ArrayGuestMemory: GuestMemory, Sendable {
    public let layout: GuestRAMLayout
    let bytes: Mutex<[UInt8]>
    public let refusedReads = Mutex(0)
    /// Guest-physical ranges written through `write(_:at:in:)`.
    public let writes = Mutex<[Range<UInt64>]>([])

    /// `size` bytes; by default all of them guest RAM from address 0.
    public init(size: Int, layout: GuestRAMLayout? = nil) {
        self.layout = layout
            ?? GuestRAMLayout(regions: [.init(guestPhysicalStart: 0, length: UInt64(size), backingOffset: 0)])
        bytes = Mutex([UInt8](repeating: 0, count: size))
    }

    /// The same bytes under another layout (whose backing offsets stay inside them).
    public func withLayout(_ layout: GuestRAMLayout) -> ArrayGuestMemory {
        let copy = ArrayGuestMemory(size: 0, layout: layout)
        copy.bytes.withLock { $0 = snapshot }
        return copy
    }

    public func read(at address: UInt64, count: Int) throws(VMGenIDError) -> [UInt8] {
        guard let offset = layout.backingOffset(of: address, count: count) else {
            refusedReads.withLock { $0 += 1 }
            throw .outsideGuestRAM(what: "read", address: address, count: count)
        }
        return bytes.withLock { Array($0[Int(offset)..<Int(offset) + count]) }
    }

    public func write(_ data: [UInt8], at offset: Int, in region: SignalRegion) throws(VMGenIDError) {
        let target = try checkedWrite(of: data.count, at: offset, in: region)
        bytes.withLock { $0.replaceSubrange(Int(target.backing)..<Int(target.backing) + data.count, with: data) }
        writes.withLock { $0.append(target.address..<target.address + UInt64(data.count)) }
    }

    public func poke(_ data: [UInt8], at address: Int) {
        bytes.withLock { $0.replaceSubrange(address..<address + data.count, with: data) }
    }

    public var snapshot: [UInt8] { bytes.withLock { $0 } }

    public func peek(_ address: Int, count: Int) -> [UInt8] {
        bytes.withLock { Array($0[address..<address + count]) }
    }
}

/// A small guest RAM image with the ACPI tables QEMU would put there:
/// RSDP (revision 2) in the BIOS area -> XSDT and RSDT -> a dummy table and
/// the VMGENID SSDT, whose VGIA points at a page of this RAM.
public struct ACPIImage {
    public static let ramSize = 4 << 20
    public static let rsdpAddress = 0xf_0000
    public static let rsdtAddress = 0x10_0000
    public static let xsdtAddress = 0x10_0100
    public static let dummyAddress = 0x10_0200
    public static let ssdtAddress = 0x10_0400
    public static let pageAddress = 0x3f_f000

    public static let vmclockSSDTAddress = 0x10_0800

    public var rsdpRevision: UInt8 = 2
    public var ssdt = ACPIImage.vmgenidSSDT(vgia: UInt32(ACPIImage.pageAddress))
    /// A second SSDT, listed after the VMGENID one (e.g. `qemuVMClockSSDT`).
    public var vmclockSSDT: [UInt8]?

    public init() {}

    public func memory() -> ArrayGuestMemory {
        let memory = ArrayGuestMemory(size: ACPIImage.ramSize)
        var rsdp = Array("RSD PTR ".utf8) + [0] + Array("BOCHS ".utf8) + [rsdpRevision]
        rsdp += le32(UInt32(ACPIImage.rsdtAddress))
        rsdp[8] = 0 &- rsdp.reduce(0, &+)
        if rsdpRevision >= 2 {
            rsdp += le32(36) + le64(UInt64(ACPIImage.xsdtAddress)) + [0, 0, 0, 0]
            rsdp[32] = 0 &- rsdp.reduce(0, &+)
        }
        memory.poke(rsdp, at: ACPIImage.rsdpAddress)
        let entries = [ACPIImage.dummyAddress, ACPIImage.ssdtAddress]
            + (vmclockSSDT == nil ? [] : [ACPIImage.vmclockSSDTAddress])
        if let vmclockSSDT { memory.poke(vmclockSSDT, at: ACPIImage.vmclockSSDTAddress) }
        memory.poke(ACPIImage.table("RSDT", body: entries.flatMap { le32(UInt32($0)) }), at: ACPIImage.rsdtAddress)
        memory.poke(ACPIImage.table("XSDT", body: entries.flatMap { le64(UInt64($0)) }), at: ACPIImage.xsdtAddress)
        memory.poke(ACPIImage.table("APIC", body: [1, 2, 3, 4]), at: ACPIImage.dummyAddress)
        memory.poke(ssdt, at: ACPIImage.ssdtAddress)
        return memory
    }

    /// The real QEMU SSDT with VGIA set to `vgia`, checksum fixed.
    public static func vmgenidSSDT(vgia: UInt32) -> [UInt8] {
        var table = qemuVMGenIDSSDT
        table.replaceSubrange(42..<46, with: le32(vgia))
        table[9] = 0
        table[9] = 0 &- table.reduce(0, &+)
        return table
    }

    /// QEMU's VMClock SSDT with its memory range moved to `page`, checksum fixed.
    public static func vmclockSSDT(page: UInt64) -> [UInt8] {
        var table = qemuVMClockSSDT
        let descriptor = 0x6f  // the QWord descriptor's tag in QEMU's table
        table.replaceSubrange(descriptor + 14..<descriptor + 22, with: le64(page))
        table.replaceSubrange(descriptor + 22..<descriptor + 30, with: le64(page &+ 0xfff))
        table[9] = 0
        table[9] = 0 &- table.reduce(0, &+)
        return table
    }

    public static func table(_ signature: String, body: [UInt8], oemTableID: String = "BXPC    ") -> [UInt8] {
        var table = Array(signature.utf8) + le32(UInt32(36 + body.count)) + [1, 0]
        table += Array("BOCHS ".utf8) + Array(oemTableID.utf8) + le32(1) + Array("BXPC".utf8) + le32(1)
        table += body
        table[9] = 0 &- table.reduce(0, &+)
        return table
    }
}

public func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) } }
public func le64(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) } }
