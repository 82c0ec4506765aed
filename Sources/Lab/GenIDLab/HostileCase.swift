import VMGenID

/// One way a hostile guest root rewrites its RSDP, root table, VMGENID SSDT
/// or `VGIA` before genid is asked to rotate it, and what genid's one-line
/// refusal must name.
struct HostileCase: Sendable {
    let name: String
    /// What guest root did, in one line.
    let what: String
    let writes: [GuestBytes]
    /// A part of the reason genid must give.
    let reason: String
}

/// Where the hostile tables go, from QEMU's own map of the VM.
struct HostileTargets: Sendable {
    /// The end of the first RAM block above 1 MiB that is followed by
    /// another block (the next NUMA node) or by no RAM (the PCI hole).
    let blockEnd: UInt64
    /// What lies past `blockEnd`, for the report.
    let pastBlockEnd: String
    /// The first device range (`i/o`) between guest RAM and 4 GiB: the PCI hole.
    let hole: QEMUMemoryMap.Range

    /// A page in the first MiB, which Linux never allocates (it keeps it
    /// for the firmware) and which every PC machine maps as RAM: the copy
    /// of the value, and the scratch page for tables guest root moves.
    static let decoyPage: UInt64 = 0x10000
    static let scratch: UInt64 = 0x11000
    static let fourGiB: UInt64 = 1 << 32

    init(map: QEMUMemoryMap) throws {
        let ram = map.guestRAM
        guard let index = ram.indices.first(where: { index in
            let range = ram[index]
            guard range.start >= 1 << 20, range.last < Self.fourGiB else { return false }
            return index + 1 == ram.count || ram[index + 1].start != range.last + 1 || ram[index + 1].name != range.name
        }) else { throw LabError.hostileGuest("QEMU's map has no RAM block ending below 4 GiB") }
        blockEnd = ram[index].last + 1
        let next = index + 1 < ram.count && ram[index + 1].start == blockEnd ? ram[index + 1] : nil
        pastBlockEnd = next.map { "RAM block '\($0.name)'" } ?? "no RAM"
        let topOfLowRAM = ram.filter { $0.last < Self.fourGiB }.map { $0.last + 1 }.max() ?? 0
        guard let hole = map.ranges.first(where: {
            $0.type == "i/o" && $0.start >= topOfLowRAM && $0.start < Self.fourGiB && $0.start % 4096 == 0
        }) else { throw LabError.hostileGuest("QEMU's map has no device range between guest RAM and 4 GiB") }
        self.hole = hole
    }
}

extension HostileCase {
    /// Every case, built from the guest's own tables. `deviceValue`: the 16
    /// bytes the VMGENID page holds now, in guest byte order.
    static func all(_ tables: GuestACPITables, _ targets: HostileTargets, deviceValue: [UInt8]) -> [HostileCase] {
        let end = targets.blockEnd, hole = targets.hole.start, fourGiB = HostileTargets.fourGiB
        let scratch = HostileTargets.scratch, decoy = HostileTargets.decoyPage
        let rootName = tables.entrySize == 8 ? "XSDT" : "RSDT"
        return [
            HostileCase(
                name: "root-across-block-end",
                what: "the \(rootName) moved to 16 bytes before the end of the RAM block at \(hex(end)), "
                    + "running into \(targets.pastBlockEnd)",
                writes: [tables.rootTable(rootName, at: end - 16, entries: tables.entries), tables.rsdp(rootAt: end - 16)],
                reason: "read at \(hex(end - 16)) (36 bytes) is not inside guest RAM"),
            HostileCase(
                name: "ssdt-across-block-end",
                what: "the VMGENID SSDT moved to 64 bytes before the end of the RAM block at \(hex(end)), "
                    + "running into \(targets.pastBlockEnd)",
                writes: [tables.ssdt(at: end - 64), tables.root(listing: tables.entries(ssdtAt: end - 64))],
                reason: "read at \(hex(end - 64)) (\(tables.ssdt.count) bytes) is not inside guest RAM"),
            HostileCase(
                name: "root-in-pci-hole",
                what: "the RSDP points its \(rootName) at \(hex(hole)) in the PCI hole (\(targets.hole.name))",
                writes: [tables.rsdp(rootAt: hole)],
                reason: "read at \(hex(hole)) (36 bytes) is not inside guest RAM"),
            HostileCase(
                name: "vgia-in-pci-hole",
                what: "VGIA points at \(hex(hole)) in the PCI hole (\(targets.hole.name))",
                writes: [tables.ssdt(at: tables.ssdtAddress, vgia: UInt32(hole))],
                reason: "VMGENID page at \(hex(hole)) (4096 bytes) is not inside guest RAM"),
            HostileCase(
                name: "xsdt-across-4gib",
                what: "the RSDP made revision 2, its XSDT 16 bytes below 4 GiB",
                writes: [tables.rootTable("XSDT", at: fourGiB - 16, entries: tables.entries),
                         tables.rsdp(xsdtAt: fourGiB - 16)],
                reason: "read at \(hex(fourGiB - 16)) (36 bytes) is not inside guest RAM"),
            HostileCase(
                name: "ssdt-across-4gib",
                what: "an XSDT lists the VMGENID SSDT 64 bytes below 4 GiB",
                writes: [tables.ssdt(at: fourGiB - 64),
                         tables.rootTable("XSDT", at: scratch, entries: tables.entries(ssdtAt: fourGiB - 64)),
                         tables.rsdp(xsdtAt: scratch)],
                reason: "read at \(hex(fourGiB - 64)) (36 bytes) is not inside guest RAM"),
            HostileCase(
                name: "vgia-at-a-copy",
                what: "VGIA points at \(hex(decoy)), elsewhere in RAM, whose bytes 40-55 hold a copy of the device's value",
                writes: [GuestBytes(address: decoy + VMGenIDTable.valueOffset, bytes: deviceValue),
                         tables.ssdt(at: tables.ssdtAddress, vgia: UInt32(decoy))],
                reason: "the guest's tables put the VMGENID value at \(hex(decoy + VMGenIDTable.valueOffset)), QEMU's vmgenid device keeps it at"),
            HostileCase(
                name: "root-table-loop",
                what: "the \(rootName) lists itself 256 times",
                writes: [tables.rootTable(rootName, at: scratch, entries: Array(repeating: scratch, count: 256)),
                         tables.rsdp(rootAt: scratch)],
                reason: "none of the 0 SSDT tables has OEM table id VMGENID"),
            HostileCase(
                name: "root-absurd-length",
                what: "the \(rootName) claims 4294967295 bytes",
                writes: [tables.root(listing: tables.entries, length: UInt32.max)],
                reason: "ACPI table \(rootName) claims 4294967295 bytes"),
            HostileCase(
                name: "ssdt-absurd-length",
                what: "the VMGENID SSDT claims 4294967295 bytes",
                writes: [tables.ssdt(at: tables.ssdtAddress, length: UInt32.max)],
                reason: "ACPI table SSDT claims 4294967295 bytes"),
            HostileCase(
                name: "root-too-many-entries",
                what: "a \(rootName) of 1000 entries",
                writes: [tables.rootTable(rootName, at: scratch, entries: (0..<1000).map { tables.entries[$0 % tables.entries.count] }),
                         tables.rsdp(rootAt: scratch)],
                reason: "lists 1000 tables"),
        ]
    }
}

func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
