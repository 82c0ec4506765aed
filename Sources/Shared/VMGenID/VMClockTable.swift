/// The SSDT that QEMU's `-device vmclock` adds (OEM table id `VMCLOCK`):
///
///     Scope (\_SB) { Device (VCLK) { Name (_HID, "AMZNC10C") ...
///         Name (_CRS, ResourceTemplate () { QWordMemory (..., min, max, ..., length) }) } }
///
/// The guest's kernel binds `ptp_vmclock` to `_HID` "AMZNC10C" and maps the
/// memory the `_CRS` names; this finds the same range, from the same table.
public struct VMClockTable: Sendable, Equatable {
    public static let oemTableID = "VMCLOCK"
    public static let hardwareID = "AMZNC10C"

    /// Guest-physical address and length of the VMClock structure's page.
    public let pageAddress: UInt64
    public let length: UInt64

    /// Parses a whole SSDT: header, length, checksum and OEM table id, then
    /// the device's `_HID` and the first QWord memory descriptor after it.
    public init(ssdt bytes: [UInt8]) throws(VMGenIDError) {
        let (header, table) = try ACPITableHeader.wholeTable(bytes)
        guard header.oemTableID == VMClockTable.oemTableID else { throw .noVMClockDevice(searched: 1) }
        // NameOp "_HID" StringPrefix "AMZNC10C" NUL
        let hid = [0x08] + Array("_HID".utf8) + [0x0d] + Array(VMClockTable.hardwareID.utf8) + [0x00]
        guard let device = VMClockTable.firstIndex(of: hid, in: table, from: ACPITableHeader.size) else {
            throw .noVMClockDevice(searched: 1)
        }
        // QWord Address Space Descriptor: tag 0x8A, length 0x002B, resource
        // type 0 (memory); minimum at +14, address length at +38.
        guard let descriptor = VMClockTable.firstIndex(of: [0x8a, 0x2b, 0x00, 0x00], in: table, from: device),
              descriptor + 46 <= table.count else {
            throw .vmclockResourceMissing
        }
        pageAddress = VMClockTable.readLE64(table, at: descriptor + 14)
        length = VMClockTable.readLE64(table, at: descriptor + 38)
    }

    static func firstIndex(of pattern: [UInt8], in bytes: [UInt8], from start: Int) -> Int? {
        guard !pattern.isEmpty, start >= 0, bytes.count >= pattern.count else { return nil }
        var index = start
        while index + pattern.count <= bytes.count {
            if bytes[index..<index + pattern.count].elementsEqual(pattern) { return index }
            index += 1
        }
        return nil
    }

    static func readLE64(_ bytes: [UInt8], at offset: Int) -> UInt64 {
        UInt64(readLE32(bytes, at: offset)) | UInt64(readLE32(bytes, at: offset + 4)) << 32
    }
}

extension ACPIWalk {
    /// The VMClock page the guest's own tables name: RSDP -> RSDT/XSDT ->
    /// the SSDT with OEM table id VMCLOCK -> the device's QWord memory range.
    public static func locateVMClock(in memory: some GuestMemory) throws(VMGenIDError) -> VMClockTable {
        var searched = 0
        for address in try rootTableAddresses(in: memory) {
            let header = try ACPITableHeader(parsing: try memory.read(at: address, count: ACPITableHeader.size))
            guard header.signature == "SSDT" else { continue }
            searched += 1
            guard header.oemTableID == VMClockTable.oemTableID else { continue }
            return try VMClockTable(ssdt: try readTable(at: address, header: header, in: memory))
        }
        throw .noVMClockDevice(searched: searched)
    }
}
