/// The SSDT that QEMU's `-device vmgenid` adds (OEM table id `VMGENID`).
///
/// It declares `Name(VGIA, <dword>)`, which the guest firmware patches with
/// the guest-physical address of the 4 KiB VMGENID page; the 16-byte value
/// sits at `VGIA + 40`.
public struct VMGenIDTable: Sendable, Equatable {
    public static let oemTableID = "VMGENID"
    /// Offset of the 16-byte value inside the page (QEMU's `ADDR` method
    /// returns `VGIA + 0x28`).
    public static let valueOffset: UInt64 = 40
    public static let valueLength = 16

    /// Guest-physical address of the page (the patched VGIA).
    public let pageAddress: UInt64

    /// Guest-physical address of the 16-byte value.
    public var valueAddress: UInt64 { pageAddress + VMGenIDTable.valueOffset }

    /// Parses a whole SSDT as the guest sees it (for example
    /// `/sys/firmware/acpi/tables/SSDT2`). Checks the header, the length,
    /// the checksum and the OEM table id, then finds exactly one
    /// `NameOp "VGIA" DWordPrefix <dword>` in the AML.
    public init(ssdt bytes: [UInt8]) throws(VMGenIDError) {
        let (header, table) = try ACPITableHeader.wholeTable(bytes)
        guard header.oemTableID == VMGenIDTable.oemTableID else {
            throw .notVMGenIDTable(oemTableID: header.oemTableID)
        }
        let address = try VMGenIDTable.vgiaValue(inAML: table[ACPITableHeader.size...])
        guard address != 0 else { throw .vgiaNotPatched }
        pageAddress = UInt64(address)
    }

    /// Picks the VMGENID table out of several SSDTs, skipping the others.
    public init(anyOf ssdts: [[UInt8]]) throws(VMGenIDError) {
        for bytes in ssdts {
            guard let header = try? ACPITableHeader(parsing: bytes),
                  header.oemTableID == VMGenIDTable.oemTableID
            else { continue }
            try self.init(ssdt: bytes)
            return
        }
        throw .noVMGenIDTable(searched: ssdts.count)
    }

    // AML encoding of `Name(VGIA, 0x12345678)`: NameOp (0x08), the 4-byte
    // NameSeg, DWordPrefix (0x0C), the little-endian value. A root prefix
    // (`\`) before the NameSeg is allowed.
    private static let nameOp: UInt8 = 0x08
    private static let rootPrefix: UInt8 = 0x5c
    private static let dwordPrefix: UInt8 = 0x0c
    private static let vgia: [UInt8] = Array("VGIA".utf8)

    static func vgiaValue(inAML aml: ArraySlice<UInt8>) throws(VMGenIDError) -> UInt32 {
        let bytes = Array(aml)
        var found: [UInt32] = []
        var index = 0
        while index < bytes.count {
            defer { index += 1 }
            guard bytes[index] == nameOp else { continue }
            var cursor = index + 1
            if cursor < bytes.count, bytes[cursor] == rootPrefix { cursor += 1 }
            guard cursor + 4 + 1 + 4 <= bytes.count,
                  Array(bytes[cursor..<cursor + 4]) == vgia,
                  bytes[cursor + 4] == dwordPrefix
            else { continue }
            found.append(readLE32(bytes, at: cursor + 5))
        }
        guard let value = found.first else { throw .vgiaNotFound }
        guard found.count == 1 else { throw .vgiaAmbiguous(count: found.count) }
        return value
    }
}
