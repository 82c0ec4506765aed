import VMGenID

/// The ACPI tables the guest's firmware wrote, found the way guest root
/// finds them (it can also read `/sys/firmware/acpi/tables` and the
/// kernel's boot log): the RSDP in the BIOS area, its root table (RSDT, or
/// XSDT from revision 2), and the VMGENID SSDT with its `VGIA`.
struct GuestACPITables: Sendable {
    let rsdpAddress: UInt64
    /// 20 bytes (revision 0) or 36.
    let rsdp: [UInt8]
    let rootAddress: UInt64
    let root: [UInt8]
    /// 4 (RSDT) or 8 (XSDT).
    let entrySize: Int
    let entries: [UInt64]
    /// Which entry is the VMGENID SSDT.
    let ssdtIndex: Int
    let ssdt: [UInt8]
    /// Where in `ssdt` the DWORD of `Name(VGIA, …)` sits.
    let vgiaOffset: Int
    var ssdtAddress: UInt64 { entries[ssdtIndex] }
    var pageAddress: UInt64 { UInt64(le32(ssdt, vgiaOffset)) }

    static func read(from ram: some GuestMemory) throws -> GuestACPITables {
        guard let (rsdpAddress, rsdp) = try findRSDP(in: ram) else { throw LabError.hostileGuest("no RSDP in 0xE0000-0xFFFFF") }
        let xsdt = rsdp.count == 36 ? UInt64(le32(rsdp, 24)) | UInt64(le32(rsdp, 28)) << 32 : 0
        let (rootAddress, entrySize) = xsdt != 0 ? (xsdt, 8) : (UInt64(le32(rsdp, 16)), 4)
        let root = try wholeTable(at: rootAddress, in: ram)
        let entries = stride(from: ACPITableHeader.size, to: root.count - entrySize + 1, by: entrySize).map {
            entrySize == 8 ? UInt64(le32(root, $0)) | UInt64(le32(root, $0 + 4)) << 32 : UInt64(le32(root, $0))
        }
        for (index, address) in entries.enumerated() {
            let header = try ACPITableHeader(parsing: try ram.read(at: address, count: ACPITableHeader.size))
            guard header.signature == "SSDT", header.oemTableID == VMGenIDTable.oemTableID else { continue }
            let ssdt = try wholeTable(at: address, in: ram)
            // NameOp, "VGIA", DWordPrefix: the firmware patched the DWORD after it.
            let name: [UInt8] = [0x08] + Array("VGIA".utf8) + [0x0c]
            guard let at = (0...(ssdt.count - name.count - 4)).first(where: { ssdt[$0..<$0 + name.count].elementsEqual(name) })
            else { throw LabError.hostileGuest("the VMGENID SSDT at 0x\(String(address, radix: 16)) has no Name(VGIA, DWORD)") }
            return GuestACPITables(rsdpAddress: rsdpAddress, rsdp: rsdp, rootAddress: rootAddress, root: root,
                                   entrySize: entrySize, entries: entries, ssdtIndex: index, ssdt: ssdt,
                                   vgiaOffset: at + name.count)
        }
        throw LabError.hostileGuest("no VMGENID SSDT among the \(entries.count) tables of the root table")
    }

    private static func findRSDP(in ram: some GuestMemory) throws -> (UInt64, [UInt8])? {
        for part in ram.layout.parts(of: 0xe0000, count: 0x20000) {
            let area = try ram.read(at: part.address, count: part.count)
            for offset in stride(from: Int((16 - part.address % 16) % 16), to: area.count - 20, by: 16)
            where area[offset..<offset + 8].elementsEqual("RSD PTR ".utf8) && sum(area[offset..<offset + 20]) == 0 {
                let extended = area[offset + 15] >= 2 && offset + 36 <= area.count && sum(area[offset..<offset + 36]) == 0
                return (part.address + UInt64(offset), Array(area[offset..<offset + (extended ? 36 : 20)]))
            }
        }
        return nil
    }

    private static func wholeTable(at address: UInt64, in ram: some GuestMemory) throws -> [UInt8] {
        let header = try ACPITableHeader(parsing: try ram.read(at: address, count: ACPITableHeader.size))
        return try ram.read(at: address, count: Int(header.length))
    }

    // MARK: What guest root writes

    /// The RSDP pointing at a root table of its own kind (RSDT or XSDT) at `address`.
    func rsdp(rootAt address: UInt64) -> GuestBytes {
        entrySize == 8 ? rsdp(xsdtAt: address) : rsdp(rsdtAt: UInt32(address))
    }

    /// The RSDP made revision 2, its XSDT at `address`: 64-bit table addresses.
    func rsdp(xsdtAt address: UInt64) -> GuestBytes {
        var bytes = Array(rsdp.prefix(20)) + [UInt8](repeating: 0, count: 16)
        bytes[15] = 2
        bytes.replaceSubrange(20..<24, with: le32(36))
        bytes.replaceSubrange(24..<32, with: le32(UInt32(truncatingIfNeeded: address)) + le32(UInt32(address >> 32)))
        bytes[8] = 0
        bytes[8] = 0 &- sum(bytes[0..<20])
        bytes[32] = 0
        bytes[32] = 0 &- sum(bytes[0..<36])
        return GuestBytes(address: rsdpAddress, bytes: bytes)
    }

    private func rsdp(rsdtAt address: UInt32) -> GuestBytes {
        var bytes = rsdp
        bytes.replaceSubrange(16..<20, with: le32(address))
        bytes[8] = 0
        bytes[8] = 0 &- sum(bytes[0..<20])
        if bytes.count == 36 {
            bytes[32] = 0
            bytes[32] = 0 &- sum(bytes[0..<36])
        }
        return GuestBytes(address: rsdpAddress, bytes: bytes)
    }

    /// A root table (`signature` RSDT with 4-byte entries, XSDT with 8) at
    /// `address` listing `entries`, with the firmware's header otherwise;
    /// claiming `length` if given.
    func rootTable(_ signature: String, at address: UInt64, entries: [UInt64], length: UInt32? = nil) -> GuestBytes {
        let size = signature == "XSDT" ? 8 : 4
        var bytes = Array(Array(signature.utf8) + root[4..<ACPITableHeader.size])
        for entry in entries {
            bytes += size == 8 ? le32(UInt32(truncatingIfNeeded: entry)) + le32(UInt32(entry >> 32))
                : le32(UInt32(truncatingIfNeeded: entry))
        }
        return GuestBytes(address: address, bytes: table(bytes, length: length ?? UInt32(bytes.count)))
    }

    /// The firmware's root table, in place, listing `entries`, claiming `length` if given.
    func root(listing entries: [UInt64], length: UInt32? = nil) -> GuestBytes {
        rootTable(entrySize == 8 ? "XSDT" : "RSDT", at: rootAddress, entries: entries, length: length)
    }

    /// The VMGENID SSDT at `address` with `VGIA` = `vgia`, claiming `length`.
    func ssdt(at address: UInt64, vgia: UInt32? = nil, length: UInt32? = nil) -> GuestBytes {
        var bytes = ssdt
        if let vgia { bytes.replaceSubrange(vgiaOffset..<vgiaOffset + 4, with: le32(vgia)) }
        return GuestBytes(address: address, bytes: table(bytes, length: length ?? UInt32(bytes.count)))
    }

    /// The table's own entries with the VMGENID SSDT's replaced by `address`.
    func entries(ssdtAt address: UInt64) -> [UInt64] {
        var moved = entries
        moved[ssdtIndex] = address
        return moved
    }
}

/// A table with its length field set to `length` and its checksum made right
/// over the bytes it has (a table that claims more has no checksum to get right).
private func table(_ bytes: [UInt8], length: UInt32) -> [UInt8] {
    var bytes = bytes
    bytes.replaceSubrange(4..<8, with: le32(length))
    bytes[9] = 0
    bytes[9] = 0 &- sum(bytes[...])
    return bytes
}

private func sum(_ bytes: ArraySlice<UInt8>) -> UInt8 { bytes.reduce(0, &+) }
private func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) } }
private func le32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
    (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << ($1 * 8) }
}
