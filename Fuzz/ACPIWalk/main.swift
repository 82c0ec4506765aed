// libFuzzer target for the VMGENID ACPI walk (Sources/Shared/VMGenID).
//
// Built by Fuzz/run together with Sources/Shared/VMGenID/*.swift and Support.swift
// into one module: swiftc -sanitize=fuzzer,address -parse-as-library.
//
// Input format (see Fuzz/README.md):
//   byte 0   flags: bit 7 = raw mode: the rest goes straight into
//                   VMGenIDTable(ssdt:), or with bit 6 also set, describes
//                   a GuestRAMLayout and addresses to look up (checkLayout);
//                   otherwise
//                   bit 0 = fix checksums after patching,
//                   bit 1 = RSDP revision 0 (RSDT only) instead of 2,
//                   bits 2-3 = guest RAM layout (FuzzImage.layout),
//                   bit 4 = move the RSDP from 0xF0000 to 0xE0000, where the
//                   scan finds it first (the scan dominates the run time).
//   then records that patch the valid 4 MiB image:
//            op (region = op & 7), offset (2 bytes LE; 3 for regions 6, 7),
//            length (1 byte), data (length bytes, cut at the end of input).
//   regions: 0 RSDP @0xF0000 or 0xE0000 (36 B)   1 RSDT @0x100000 (256 B)
//            2 XSDT @0x100100 (256 B) 3 APIC @0x100200 (512 B)
//            4 SSDT @0x100400 (1 KiB) 5 BIOS data area @0x400 (256 B; EBDA segment at 0x40E)
//            6 anywhere in the 4 MiB backing store
//            7 anywhere, 16-byte aligned; with bit 0 set its checksum is fixed
//              too (as an RSDP if it starts with "RSD PTR ", else as a table).
//
// Invariants (a violation traps, so libFuzzer reports a crash):
//   - locateVMGenID either throws a VMGenIDError (never .system/.verifyFailed
//     from in-memory RAM) or returns a slot at a 4 KiB-aligned, non-zero
//     32-bit VGIA + 40 whose 16 bytes lie inside the layout;
//   - GuestRAMLayout.backingOffset agrees with an independent bounds check on
//     every read; reads outside the layout are refused by the fake (counted);
//     no read asks for more than the documented caps, in total or at once;
//   - the walk writes nothing; writeAndVerify on the returned slot succeeds,
//     writes once, to exactly those 16 bytes, and changes nothing around them;
//   - layout mode: GuestRAMLayout.backingOffset/contains agree with an
//     independent bounds check for any layout and any (address, count), and
//     parts(of:count:) returns only pieces inside one region and the area;
//   - raw mode, also read as QEMU's device state: VMGenIDDeviceState
//     returns an address only when exactly one vmgenid section header is in
//     it, with its matching footer: that section's; .deviceState otherwise;
//   - raw mode: VMClockTable(ssdt:) only accepts a whole, checksummed
//     VMCLOCK SSDT and returns a range a QWord descriptor in it names;
//     VMGenIDTable(ssdt:) only accepts a table whose length,
//     checksum and OEM table id are right and whose AML holds "VGIA" DWORD =
//     pageAddress; VMGenIDTable(anyOf:) agrees with it; GenerationID byte and
//     text conversions round-trip.

#if canImport(Glibc)
import Glibc
#endif

/// ACPI_FUZZ_VERBOSE=1 prints each input's outcome (to check seeds by hand).
let verbose = getenv("ACPI_FUZZ_VERBOSE") != nil

let pristine = FuzzImage.pristine()
let memory = FuzzGuestMemory(layout: FuzzImage.layout(0), backing: pristine)

/// Regions the patch records address: (start in the backing store, size).
let patchRegions: [(start: Int, size: Int)] = [
    (FuzzImage.rsdpAddress, 36),
    (FuzzImage.rsdtAddress, 256),
    (FuzzImage.xsdtAddress, 256),
    (FuzzImage.dummyAddress, 512),
    (FuzzImage.ssdtAddress, 1024),
    (0x400, 256),
    (0, FuzzImage.ramSize),
    (0, FuzzImage.ramSize),
]

/// The most the walk may read: the BIOS area and the EBDA scans, two whole
/// tables (root and VMGENID SSDT) and one header per root entry.
let maximumWalkBytes = 0x20000 + 2 + 1024 + 36 + ACPIWalk.maximumTableLength
    + ACPIWalk.maximumRootEntries * ACPITableHeader.size + ACPIWalk.maximumTableLength
let maximumSingleRead = max(0x20000, ACPIWalk.maximumTableLength)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzACPIWalk(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: size > 0 ? data : nil, count: size))
    let flags = input.first ?? 0
    if flags & 0xc0 == 0xc0 {
        checkLayout(Array(input.dropFirst()))
        return 0
    }
    if flags & 0x80 != 0 {
        checkSSDTParser(Array(input.dropFirst()))
        checkDeviceState(Array(input.dropFirst()))
        return 0
    }
    memory.beginRun(layout: FuzzImage.layout(Int(flags >> 2)))
    defer { memory.restore(from: pristine) }
    applyPatches(input, flags: flags)
    checkWalk()
    return 0
}

func applyPatches(_ input: [UInt8], flags: UInt8) {
    var rsdp = FuzzImage.rsdpAddress
    if flags & 0x10 != 0 {
        rsdp = 0xe_0000
        memory.poke(memory.peek(FuzzImage.rsdpAddress, count: 36), at: rsdp)
        memory.poke([UInt8](repeating: 0, count: 36), at: FuzzImage.rsdpAddress)
    }
    if flags & 0x02 != 0 {
        // RSDP revision 0: 20 bytes, no XSDT address.
        memory.poke([0], at: rsdp + 15)
        memory.poke([UInt8](repeating: 0, count: 16), at: rsdp + 20)
        memory.fixChecksum(start: rsdp, length: 20, at: 8)
    }
    var structures: [Int] = []
    var cursor = 1
    func next(_ count: Int) -> Int? {
        guard cursor + count <= input.count else { return nil }
        defer { cursor += count }
        return (0..<count).reduce(0) { $0 | Int(input[cursor + $1]) << (8 * $1) }
    }
    while let op = next(1) {
        let region = op & 7
        guard let rawOffset = next(region >= 6 ? 3 : 2), let length = next(1) else { break }
        let (start, size) = region == 0 ? (rsdp, 36) : patchRegions[region]
        var offset = rawOffset % size
        if region == 7 { offset &= ~15 }
        let count = min(length, size - offset, input.count - cursor)
        memory.poke(input[cursor..<cursor + count], at: start + offset)
        cursor += count
        if region == 7 { structures.append(start + offset) }
    }
    guard flags & 0x01 != 0 else { return }
    for table in [FuzzImage.rsdtAddress, FuzzImage.xsdtAddress, FuzzImage.dummyAddress, FuzzImage.ssdtAddress] {
        memory.fixTableChecksum(at: table)
    }
    for start in structures {
        if memory.peek(start, count: 8) == Array("RSD PTR ".utf8) {
            memory.fixRSDPChecksums(at: start)
        } else {
            memory.fixTableChecksum(at: start)
        }
    }
    memory.fixRSDPChecksums(at: rsdp)
}

func checkWalk() {
    let located: (slot: VMGenIDSlot, table: VMGenIDTable)
    do {
        located = try ACPIWalk.locateVMGenID(in: memory)
    } catch {
        // Typed throws: `error` is a VMGenIDError.
        if verbose { print("walk: \(error) [\(memory.readAttempts) reads, \(memory.refusedReads) refused]") }
        checkReadAccounting()
        switch error {
        case .system, .verifyFailed:
            invariantFailure("the walk over in-memory RAM threw \(error)")
        case .outsideGuestRAM(what: "read", _, _) where memory.refusedReads == 0:
            invariantFailure("the walk reported a refused read, but none was refused: \(error)")
        default:
            break
        }
        return
    }
    if verbose { print("walk: slot \(located.slot) [\(memory.readAttempts) reads, \(memory.refusedReads) refused]") }
    checkReadAccounting()
    let (slot, table) = located
    let layout = memory.layout
    guard table.pageAddress != 0, table.pageAddress <= UInt64(UInt32.max), table.pageAddress % 4096 == 0 else {
        invariantFailure("the walk returned page address \(hex(table.pageAddress)) (not a non-zero, aligned 32-bit VGIA)")
    }
    guard slot.address == table.pageAddress + VMGenIDTable.valueOffset, slot.address == table.valueAddress else {
        invariantFailure("slot \(slot) is not VGIA \(hex(table.pageAddress)) + 40")
    }
    guard let backingOffset = independentBackingOffset(layout, slot.address, VMGenIDTable.valueLength),
          layout.contains(slot.address, count: VMGenIDTable.valueLength)
    else {
        invariantFailure("the walk returned slot \(slot), whose 16 bytes are not inside the layout \(layout.regions)")
    }

    // writeAndVerify must write exactly the 16 bytes of the slot.
    let windowStart = max(0, Int(backingOffset) - 64)
    let before = memory.peek(windowStart, count: 144)
    let current: GenerationID
    do {
        current = try memory.readValue(at: slot)
    } catch {
        invariantFailure("readValue(at: \(slot)) of a slot the walk returned threw \(error)")
    }
    let value = GenerationID(rfcBytes: current.rfcBytes.map { ~$0 })!  // every byte differs
    do {
        try memory.writeAndVerify(value, to: slot)
    } catch {
        invariantFailure("writeAndVerify to \(slot) threw \(error)")
    }
    guard memory.writes == [slot.address..<slot.address + 16] else {
        invariantFailure("writeAndVerify to \(slot) wrote \(memory.writes.map { "\(hex($0.lowerBound))..<\(hex($0.upperBound))" })")
    }
    let after = memory.peek(windowStart, count: 144)
    let slotInWindow = Int(backingOffset) - windowStart
    for index in before.indices {
        let inSlot = (slotInWindow..<slotInWindow + 16).contains(index)
        let expected = inSlot ? value.guestBytes[index - slotInWindow] : before[index]
        guard after[index] == expected, !inSlot || after[index] != before[index] else {
            invariantFailure("after writeAndVerify to \(slot), backing byte \(hex(UInt64(windowStart + index))) is "
                + "\(after[index]), expected \(expected) (was \(before[index]))")
        }
    }
    guard (try? memory.readValue(at: slot)) == value else {
        invariantFailure("readValue after writeAndVerify does not return the value written")
    }
}

func checkReadAccounting() {
    guard memory.writes.isEmpty else {
        invariantFailure("locateVMGenID wrote to guest memory: \(memory.writes)")
    }
    guard memory.largestRead <= maximumSingleRead else {
        invariantFailure("the walk read \(memory.largestRead) bytes at once (cap \(maximumSingleRead))")
    }
    guard memory.bytesRead <= maximumWalkBytes else {
        invariantFailure("the walk read \(memory.bytesRead) bytes in all (cap \(maximumWalkBytes))")
    }
}

// MARK: - Raw mode

/// VMClockTable(ssdt:) accepts only a whole, checksummed VMCLOCK SSDT, and
/// what it returns is the QWord descriptor's minimum and length.
func checkVMClockParser(_ bytes: [UInt8]) {
    guard let parsed = try? VMClockTable(ssdt: bytes) else { return }
    let length = bytes.count >= 8 ? Int(readLE32(bytes, at: 4)) : -1
    guard length >= ACPITableHeader.size, length <= bytes.count, bytes[..<length].reduce(UInt8(0), &+) == 0,
          Array(bytes[16..<23]) == Array("VMCLOCK".utf8) else {
        invariantFailure("VMClockTable(ssdt:) accepted a table with a wrong length, checksum or OEM table id")
    }
    let table = Array(bytes[..<length])
    let found = (ACPITableHeader.size..<max(ACPITableHeader.size, length - 45)).contains { index in
        table[index] == 0x8a && table[index + 1] == 0x2b && table[index + 2] == 0 && table[index + 3] == 0
            && VMClockTable.readLE64(table, at: index + 14) == parsed.pageAddress
            && VMClockTable.readLE64(table, at: index + 38) == parsed.length
    }
    guard found else { invariantFailure("VMClockTable(ssdt:) returned a range no descriptor in the table names") }
}

func checkSSDTParser(_ bytes: [UInt8]) {
    _ = try? ACPITableHeader(parsing: bytes)
    checkGenerationID(bytes)
    checkVMClockParser(bytes)

    let parsed: VMGenIDTable
    do {
        parsed = try VMGenIDTable(ssdt: bytes)
        if verbose { print("ssdt: VGIA \(hex(parsed.pageAddress))") }
    } catch {
        if verbose { print("ssdt: \(error)") }
        let expected: VMGenIDError
        if let header = try? ACPITableHeader(parsing: bytes), header.oemTableID == VMGenIDTable.oemTableID {
            expected = error
        } else {
            expected = .noVMGenIDTable(searched: 1)
        }
        do {
            let other = try VMGenIDTable(anyOf: [bytes])
            invariantFailure("VMGenIDTable(ssdt:) threw \(error) but VMGenIDTable(anyOf:) returned \(other)")
        } catch {
            guard error == expected else {
                invariantFailure("VMGenIDTable(anyOf:) threw \(error), expected \(expected)")
            }
        }
        return
    }
    guard bytes.count >= ACPITableHeader.size else {
        invariantFailure("VMGenIDTable(ssdt:) accepted \(bytes.count) bytes, shorter than a header")
    }
    let length = Int(readLE32(bytes, at: 4))
    guard length >= ACPITableHeader.size, length <= bytes.count else {
        invariantFailure("VMGenIDTable(ssdt:) accepted a claimed length \(length) with \(bytes.count) bytes")
    }
    guard bytes[..<length].reduce(UInt8(0), &+) == 0 else {
        invariantFailure("VMGenIDTable(ssdt:) accepted a bad checksum")
    }
    guard Array(bytes[16..<23]) == Array("VMGENID".utf8), bytes[23] == 0 || bytes[23] == 0x20 else {
        invariantFailure("VMGenIDTable(ssdt:) accepted OEM table id \(bytes[16..<24])")
    }
    guard parsed.pageAddress != 0, parsed.pageAddress <= UInt64(UInt32.max) else {
        invariantFailure("VMGenIDTable(ssdt:) returned page address \(hex(parsed.pageAddress))")
    }
    let vgia = Array("VGIA".utf8) + [0x0c] + le32(UInt32(parsed.pageAddress))
    let aml = Array(bytes[ACPITableHeader.size..<length])
    guard aml.count >= vgia.count,
          (0...(aml.count - vgia.count)).contains(where: { aml[$0] == vgia[0] && Array(aml[$0..<$0 + vgia.count]) == vgia })
    else {
        invariantFailure("VMGenIDTable(ssdt:) returned \(hex(parsed.pageAddress)), which no VGIA DWORD in the AML holds")
    }
    guard (try? VMGenIDTable(anyOf: [Array("SSDT".utf8), bytes])) == parsed else {
        invariantFailure("VMGenIDTable(anyOf:) disagrees with VMGenIDTable(ssdt:)")
    }
}

func checkGenerationID(_ bytes: [UInt8]) {
    if bytes.count >= 16 {
        let guest = Array(bytes.prefix(16))
        guard let id = GenerationID(guestBytes: guest), id.guestBytes == guest,
              GenerationID(rfcBytes: id.rfcBytes) == id, GenerationID(id.description) == id,
              GenerationID(id.description.uppercased()) == id
        else {
            invariantFailure("GenerationID does not round-trip guest bytes \(guest)")
        }
    }
    let text = String(decoding: bytes, as: UTF8.self)
    if let id = GenerationID(text), id.description != text.lowercased() {
        invariantFailure("GenerationID(\"\(text)\") prints as \(id)")
    }
}

// MARK: - Layout mode

/// Input: a kind byte (even: q35 with an 8-byte ram size; odd: 1-4 explicit
/// regions of 3 x 8 bytes), then lookups of 8-byte address + 4-byte count.
func checkLayout(_ bytes: [UInt8]) {
    var cursor = 0
    func next(_ count: Int) -> UInt64? {
        guard cursor + count <= bytes.count else { return nil }
        defer { cursor += count }
        return (0..<count).reduce(UInt64(0)) { $0 | UInt64(bytes[cursor + $1]) << (8 * UInt64($1)) }
    }
    guard let kind = next(1) else { return }
    let layout: GuestRAMLayout
    if kind & 1 == 0 {
        // One RAM block from 0, any size (up to ones that end past 2^64).
        guard let ramSize = next(8) else { return }
        layout = GuestRAMLayout(regions: [.init(guestPhysicalStart: 0, length: ramSize, backingOffset: 0)])
    } else {
        var regions: [GuestRAMLayout.Region] = []
        for _ in 0...(Int(kind >> 1) % 4) {
            guard let start = next(8), let length = next(8), let backing = next(8) else { return }
            regions.append(.init(guestPhysicalStart: start, length: length, backingOffset: backing))
        }
        layout = GuestRAMLayout(regions: regions)
    }
    var lookups: [(UInt64, Int)] = []
    for region in layout.regions {
        let start = region.guestPhysicalStart, end = start &+ region.length
        for address in [start &- 1, start, start &+ 1, end &- 16, end &- 15, end &- 1, end] {
            lookups += [(address, 16), (address, 0), (address, 1), (address, -1)]
        }
        lookups.append((start, Int(clamping: region.length)))
        lookups.append((start, Int(clamping: region.length) &+ 1))
    }
    while let address = next(8), let count = next(4) {
        lookups.append((address, Int(Int32(bitPattern: UInt32(count)))))
    }
    for (address, count) in lookups {
        let checked = layout.backingOffset(of: address, count: count)
        let expected = independentBackingOffset(layout, address, count)
        for part in layout.parts(of: address, count: count) {
            let into = part.address &- address
            guard part.count > 0, part.address >= address, into < UInt64(max(count, 0)),
                  UInt64(part.count) <= UInt64(count) - into,
                  independentBackingOffset(layout, part.address, part.count) != nil else {
                invariantFailure("GuestRAMLayout.parts(of: \(hex(address)), count: \(count)) holds \(part); layout \(layout.regions)")
            }
        }
        guard checked == expected, layout.contains(address, count: count) == (expected != nil) else {
            invariantFailure("GuestRAMLayout.backingOffset(of: \(hex(address)), count: \(count)) = "
                + "\(checked.map(hex) ?? "nil"), expected \(expected.map(hex) ?? "nil"); layout \(layout.regions)")
        }
    }
}

/// VMGenIDDeviceState against a plain search: exactly one header
/// (0x04, id, 7, "vmgenid"), and its footer with the same id.
func checkDeviceState(_ stream: [UInt8]) {
    let name = Array("vmgenid".utf8)
    var headers: [Int] = []
    if stream.count >= 13 {
        for start in 0...(stream.count - 13) where stream[start] == 4 && stream[start + 5] == 7
            && Array(stream[(start + 6)..<(start + 13)]) == name {
            headers.append(start)
        }
    }
    var expected: UInt64??  // nil: must throw
    if headers.count == 1, let start = headers.first, stream.count - start >= 34, stream[start + 29] == 0x7e,
       Array(stream[(start + 1)..<(start + 5)]) == Array(stream[(start + 30)..<(start + 34)]) {
        var address: UInt64 = 0
        for index in (start + 21..<start + 29).reversed() { address = address << 8 | UInt64(stream[index]) }
        expected = .some(address == 0 ? nil : address)
    }
    do {
        let found = try VMGenIDDeviceState.valueAddress(in: stream)
        guard let expected, found == expected else {
            fatalError("FUZZ INVARIANT VIOLATED: device state gave \(String(describing: found)), headers \(headers)")
        }
    } catch {
        guard case .deviceState = error, expected == nil else {
            fatalError("FUZZ INVARIANT VIOLATED: device state threw \(error) with headers \(headers)")
        }
    }
}
