// Support for the ACPI walk fuzz target: an in-memory guest RAM that checks
// and records every access, and a valid QEMU-like ACPI table set to start
// from. It is compiled into the same module as Sources/Shared/VMGenID/*.swift (see
// Fuzz/run), so it can use the module's internal names; nothing here is
// linked into the product. The table builder mirrors
// Tests/Fixtures/ArrayGuestMemory.swift and QEMUTables.swift (test files
// cannot be linked from here, so the bytes are copied).

/// Stops the fuzzer with a message libFuzzer shows next to the crash.
func invariantFailure(_ message: String, file: StaticString = #file, line: UInt = #line) -> Never {
    fatalError("FUZZ INVARIANT VIOLATED: " + message, file: file, line: line)
}

func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

// MARK: - Guest memory

/// Guest RAM as one backing array, seen through a `GuestRAMLayout`.
///
/// Every read is checked twice: by `layout.backingOffset` (the code under
/// test) and by `independentBackingOffset` below; a disagreement is an
/// invariant failure. Reads outside the layout are refused (and counted),
/// never served. Writes are recorded, so the harness can check that the walk
/// writes exactly the 16 bytes of the slot it returned.
final class FuzzGuestMemory: GuestMemory, @unchecked Sendable {
    // @unchecked: libFuzzer calls the target from one thread only.
    var layout: GuestRAMLayout
    /// The backing store (guest RAM file). Layout regions index into it.
    var backing: [UInt8]

    // Per-run accounting, reset by `beginRun()`.
    var readAttempts = 0
    var refusedReads = 0
    var bytesRead = 0
    var largestRead = 0
    var writes: [Range<UInt64>] = []
    /// Backing ranges changed during this run (by the harness or by
    /// `write`), restored from the pristine image by `restore(from:)`.
    var dirty: [Range<Int>] = []

    init(layout: GuestRAMLayout, backing: [UInt8]) {
        self.layout = layout
        self.backing = backing
    }

    func beginRun(layout: GuestRAMLayout) {
        self.layout = layout
        for region in layout.regions where region.backingOffset + region.length > UInt64(backing.count) {
            invariantFailure("harness bug: layout region \(region) reaches past the \(backing.count)-byte backing store")
        }
        readAttempts = 0
        refusedReads = 0
        bytesRead = 0
        largestRead = 0
        writes.removeAll(keepingCapacity: true)
    }

    /// Undoes every change of the run (cheaper than copying 4 MiB each run).
    func restore(from pristine: [UInt8]) {
        for range in dirty {
            backing.replaceSubrange(range, with: pristine[range])
        }
        dirty.removeAll(keepingCapacity: true)
    }

    /// Harness-side write (patches, checksum fixes), clipped to the backing store.
    func poke(_ data: some Collection<UInt8>, at offset: Int) {
        guard offset >= 0, offset < backing.count else { return }
        let count = min(data.count, backing.count - offset)
        guard count > 0 else { return }
        backing.replaceSubrange(offset..<offset + count, with: data.prefix(count))
        dirty.append(offset..<offset + count)
    }

    func peek(_ offset: Int, count: Int) -> [UInt8] {
        let start = max(0, min(offset, backing.count))
        let end = max(start, min(offset + count, backing.count))
        return Array(backing[start..<end])
    }

    // MARK: GuestMemory

    func read(at address: UInt64, count: Int) throws(VMGenIDError) -> [UInt8] {
        readAttempts += 1
        let checked = layout.backingOffset(of: address, count: count)
        let expected = independentBackingOffset(layout, address, count)
        guard checked == expected else {
            invariantFailure("GuestRAMLayout.backingOffset(of: \(hex(address)), count: \(count)) = "
                + "\(checked.map(hex) ?? "nil"), but the address lies "
                + (expected.map { "at backing offset \(hex($0))" } ?? "outside the layout")
                + "; layout \(layout.regions)")
        }
        guard let offset = checked else {
            refusedReads += 1
            throw .outsideGuestRAM(what: "read", address: address, count: count)
        }
        let start = Int(offset)
        guard start + count <= backing.count else {
            invariantFailure("harness bug: backing offset \(start)+\(count) past the backing store")
        }
        bytesRead += count
        largestRead = max(largestRead, count)
        return Array(backing[start..<start + count])
    }

    func write(_ bytes: [UInt8], at offset: Int, in region: SignalRegion) throws(VMGenIDError) {
        guard let address = region.address(ofOffset: offset, count: bytes.count),
              let backingOffset = independentBackingOffset(layout, address, bytes.count) else {
            invariantFailure("write of \(bytes.count) bytes at \(offset) of the \(region.signal) region \(region) "
                + "outside the region or the layout \(layout.regions)")
        }
        let start = Int(backingOffset)
        backing.replaceSubrange(start..<start + bytes.count, with: bytes)
        dirty.append(start..<start + bytes.count)
        writes.append(address..<address + UInt64(bytes.count))
    }
}

/// Where `count` bytes at guest-physical `address` sit in the backing store,
/// computed without `GuestRAMLayout.backingOffset` and without any
/// arithmetic that can overflow: nil unless they lie wholly in one region.
func independentBackingOffset(_ layout: GuestRAMLayout, _ address: UInt64, _ count: Int) -> UInt64? {
    guard count >= 0 else { return nil }
    let wanted = UInt64(count)
    for region in layout.regions {
        guard address >= region.guestPhysicalStart else { continue }
        let into = address - region.guestPhysicalStart
        guard into <= region.length, wanted <= region.length - into else { continue }
        let (offset, overflow) = region.backingOffset.addingReportingOverflow(into)
        return overflow ? nil : offset
    }
    return nil
}

// MARK: - The image

/// A 4 MiB guest RAM image with the tables QEMU (q35, SeaBIOS) would put
/// there: RSDP revision 2 at 0xF0000 -> RSDT at 0x100000 and XSDT at
/// 0x100100 -> an APIC table at 0x100200 and the VMGENID SSDT at 0x100400,
/// whose VGIA names the page at 0x3FF000 (value at 0x3FF028).
enum FuzzImage {
    static let ramSize = 4 << 20
    static let rsdpAddress = 0xf_0000
    static let rsdtAddress = 0x10_0000
    static let xsdtAddress = 0x10_0100
    static let dummyAddress = 0x10_0200
    static let ssdtAddress = 0x10_0400
    static let pageAddress = 0x3f_f000
    /// The BIOS data area word holding the EBDA segment.
    static let ebdaPointer = 0x40e

    /// The image as a backing store (guest-physical address == offset).
    static func pristine() -> [UInt8] {
        var ram = [UInt8](repeating: 0, count: ramSize)
        func put(_ data: [UInt8], _ at: Int) { ram.replaceSubrange(at..<at + data.count, with: data) }
        var rsdp = Array("RSD PTR ".utf8) + [0] + Array("BOCHS ".utf8) + [2]
        rsdp += le32(UInt32(rsdtAddress))
        rsdp[8] = 0 &- rsdp.reduce(0, &+)
        rsdp += le32(36) + le64(UInt64(xsdtAddress)) + [0, 0, 0, 0]
        rsdp[32] = 0 &- rsdp.reduce(0, &+)
        put(rsdp, rsdpAddress)
        let entries = [dummyAddress, ssdtAddress]
        put(table("RSDT", body: entries.flatMap { le32(UInt32($0)) }), rsdtAddress)
        put(table("XSDT", body: entries.flatMap { le64(UInt64($0)) }), xsdtAddress)
        put(table("APIC", body: [1, 2, 3, 4]), dummyAddress)
        put(vmgenidSSDT(vgia: UInt32(pageAddress)), ssdtAddress)
        return ram
    }

    /// The real QEMU SSDT with VGIA set to `vgia`, checksum fixed.
    static func vmgenidSSDT(vgia: UInt32) -> [UInt8] {
        var table = qemuVMGenIDSSDT
        table.replaceSubrange(42..<46, with: le32(vgia))
        table[9] = 0
        table[9] = 0 &- table.reduce(0, &+)
        return table
    }

    static func table(_ signature: String, body: [UInt8], oemTableID: String = "BXPC    ") -> [UInt8] {
        var table = Array(signature.utf8) + le32(UInt32(36 + body.count)) + [1, 0]
        table += Array("BOCHS ".utf8) + Array(oemTableID.utf8) + le32(1) + Array("BXPC".utf8) + le32(1)
        table += body
        table[9] = 0 &- table.reduce(0, &+)
        return table
    }

    /// Layouts the fuzzer picks from (all over the same 4 MiB backing store).
    static func layout(_ mode: Int) -> GuestRAMLayout {
        typealias Region = GuestRAMLayout.Region
        switch mode & 3 {
        case 1:  // a hole at 2-3 MiB: reads that straddle it must be refused
            return GuestRAMLayout(regions: [
                Region(guestPhysicalStart: 0, length: 0x20_0000, backingOffset: 0),
                Region(guestPhysicalStart: 0x30_0000, length: 0x10_0000, backingOffset: 0x30_0000),
            ])
        case 2:  // the last MiB at 4 GiB, as q35 places RAM above the PCI hole
            return GuestRAMLayout(regions: [
                Region(guestPhysicalStart: 0, length: 0x30_0000, backingOffset: 0),
                Region(guestPhysicalStart: 0x1_0000_0000, length: 0x10_0000, backingOffset: 0x30_0000),
            ])
        case 3:  // no RAM at 0xF0000-0xFFFFF: the BIOS-area scan is refused, only the EBDA can hold the RSDP
            return GuestRAMLayout(regions: [
                Region(guestPhysicalStart: 0, length: 0xf_0000, backingOffset: 0),
                Region(guestPhysicalStart: 0x10_0000, length: 0x30_0000, backingOffset: 0x10_0000),
            ])
        default:  // all of it from 0, one RAM block
            return GuestRAMLayout(regions: [Region(guestPhysicalStart: 0, length: UInt64(ramSize), backingOffset: 0)])
        }
    }
}

/// Checksum repair, so that mutations reach the structure behind the checksums.
extension FuzzGuestMemory {
    /// Sets byte `index` of the `length` bytes at `start` so that they sum to 0.
    func fixChecksum(start: Int, length: Int, at index: Int) {
        guard start >= 0, length > index, start + length <= backing.count else { return }
        var sum: UInt8 = 0
        for offset in start..<start + length where offset != start + index { sum &+= backing[offset] }
        poke(CollectionOfOne(0 &- sum), at: start + index)
    }

    func fixRSDPChecksums(at start: Int) {
        fixChecksum(start: start, length: 20, at: 8)
        fixChecksum(start: start, length: 36, at: 32)
    }

    /// Fixes the checksum of the table at `start` over its claimed length
    /// (if the length is plausible; the walk must reject the others anyway).
    func fixTableChecksum(at start: Int) {
        guard start >= 0, start + 8 <= backing.count else { return }
        let length = Int(readLE32(peek(start + 4, count: 4), at: 0))
        guard length >= ACPITableHeader.size, length <= ACPIWalk.maximumTableLength else { return }
        fixChecksum(start: start, length: length, at: 9)
    }
}

func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) } }
func le64(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) } }

// qemuVMGenIDSSDT, the real table, comes from Tests/Fixtures/QEMUTables.swift
// (compiled into this target by Fuzz/run).
