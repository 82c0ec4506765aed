/// Finds the VMGENID value in guest RAM the way the guest's OS does: RSDP ->
/// RSDT/XSDT -> the SSDT with OEM table id VMGENID -> VGIA -> + 40.
///
/// Every address and length comes from guest memory and is checked against
/// the guest RAM layout before it is read; sizes are capped so that a
/// hostile table cannot make the host read much.
public enum ACPIWalk {
    /// Largest table read whole (QEMU's VMGENID SSDT is 202 bytes; a DSDT
    /// may reach tens of KiB, but only root tables and SSDTs are read).
    static let maximumTableLength = 256 * 1024
    static let maximumRootEntries = 256

    /// The slot of the VMGENID value, and the table that named it.
    public static func locateVMGenID(in memory: some GuestMemory) throws(VMGenIDError) -> (slot: VMGenIDSlot, table: VMGenIDTable) {
        let root = try rootTableAddresses(in: memory)
        var searched = 0
        for address in root {
            let header = try ACPITableHeader(parsing: try memory.read(at: address, count: ACPITableHeader.size))
            guard header.signature == "SSDT" else { continue }
            searched += 1
            guard header.oemTableID == VMGenIDTable.oemTableID else { continue }
            let bytes = try readTable(at: address, header: header, in: memory)
            let table = try VMGenIDTable(ssdt: bytes)
            let slot = try VMGenIDSlot(pageAddress: table.pageAddress, layout: memory.layout)
            return (slot, table)
        }
        throw .noVMGenIDTable(searched: searched)
    }

    /// Addresses the RSDT (32-bit entries) or XSDT (64-bit entries) lists.
    static func rootTableAddresses(in memory: some GuestMemory) throws(VMGenIDError) -> [UInt64] {
        let rsdp = try findRSDP(in: memory)
        let useXSDT = rsdp.revision >= 2 && rsdp.xsdtAddress != 0
        let address = useXSDT ? rsdp.xsdtAddress : UInt64(rsdp.rsdtAddress)
        let header = try ACPITableHeader(parsing: try memory.read(at: address, count: ACPITableHeader.size))
        let table = try readTable(at: address, header: header, in: memory)
        let entrySize = useXSDT ? 8 : 4
        let count = (table.count - ACPITableHeader.size) / entrySize
        guard count <= maximumRootEntries else { throw .tooManyTables(count: count) }
        return (0..<count).map { index in
            let offset = ACPITableHeader.size + index * entrySize
            let low = UInt64(readLE32(table, at: offset))
            return useXSDT ? low | UInt64(readLE32(table, at: offset + 4)) << 32 : low
        }
    }

    /// Reads a whole table after checking its claimed length and checksum.
    static func readTable(at address: UInt64, header: ACPITableHeader,
                          in memory: some GuestMemory) throws(VMGenIDError) -> [UInt8] {
        let length = Int(header.length)
        guard length >= ACPITableHeader.size, length <= maximumTableLength else {
            throw .badLength(signature: header.signature, claimed: header.length, available: maximumTableLength)
        }
        let bytes = try memory.read(at: address, count: length)
        guard bytes.reduce(UInt8(0), &+) == 0 else { throw .badChecksum(signature: header.signature) }
        return bytes
    }

    struct RSDP {
        let revision: UInt8
        let rsdtAddress: UInt32
        let xsdtAddress: UInt64
    }

    /// The RSDP sits on a 16-byte boundary in the BIOS area 0xE0000-0xFFFFF
    /// or in the first KiB of the EBDA (segment at 0x40E). Each area is read
    /// in the parts that are guest RAM: QEMU splits the BIOS area into
    /// ranges (the chipset shows some of it read-only), and no read may
    /// cross from one range into the next.
    static func findRSDP(in memory: some GuestMemory) throws(VMGenIDError) -> RSDP {
        var areas: [(UInt64, Int)] = [(0xe0000, 0x20000)]
        if let segment = try? memory.read(at: 0x40e, count: 2) {
            let ebda = (UInt64(segment[0]) | UInt64(segment[1]) << 8) << 4
            if ebda >= 0x400 { areas.insert((ebda, 1024), at: 0) }
        }
        let signature = Array("RSD PTR ".utf8)
        for (start, length) in areas.flatMap({ memory.layout.parts(of: $0.0, count: $0.1) }) {
            guard let area = try? memory.read(at: start, count: length) else { continue }
            var offset = Int((16 - start % 16) % 16)
            while offset + 20 <= area.count {
                defer { offset += 16 }
                guard area[offset..<offset + 8].elementsEqual(signature),
                      area[offset..<offset + 20].reduce(UInt8(0), &+) == 0
                else { continue }
                let revision = area[offset + 15]
                let rsdt = readLE32(Array(area[offset..<offset + 20]), at: 16)
                var xsdt: UInt64 = 0
                if revision >= 2, offset + 36 <= area.count,
                   area[offset..<offset + 36].reduce(UInt8(0), &+) == 0 {
                    let extended = Array(area[offset..<offset + 36])
                    xsdt = UInt64(readLE32(extended, at: 24)) | UInt64(readLE32(extended, at: 28)) << 32
                }
                return RSDP(revision: revision, rsdtAddress: rsdt, xsdtAddress: xsdt)
            }
        }
        throw .rsdpNotFound
    }
}
