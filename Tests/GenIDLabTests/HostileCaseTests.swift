import GuestMemoryFixtures
import Testing
import VMGenID
@testable import GenIDLab

/// The hostile-guest scenario's cases against genid's own ACPI walk, in an
/// array: the fixture's tables (RSDP revision 2, an XSDT; QEMU's x86 guests
/// have an RSDT, which the scenario meets in the lab) in two RAM blocks
/// back to back, as QEMU's map of a NUMA guest shows them (the BIOS area
/// read-only, over the first block's RAM).
@Suite struct HostileCaseTests {
    let map = QEMUMemoryMap(ranges: [
        .init(start: 0, length: 0xe_0000, type: "ram", name: "ram-node0", offsetInRegion: 0),
        .init(start: 0xe_0000, length: 0x2_0000, type: "rom", name: "ram-node0", offsetInRegion: 0xe_0000),
        .init(start: 1 << 20, length: 1 << 20, type: "ram", name: "ram-node0", offsetInRegion: 1 << 20),
        .init(start: 2 << 20, length: 2 << 20, type: "ram", name: "ram-node1", offsetInRegion: 0),
        .init(start: 0xb000_0000, length: 0x1000_0000, type: "i/o", name: "pcie-mmcfg-mmio", offsetInRegion: 0),
    ])

    @Test func theWalkRefusesEveryCaseButTheCopyOfTheValue() throws {
        let layout = GuestRAMLayout(regions: map.guestRAM.map {
            .init(guestPhysicalStart: $0.start, length: $0.length, backingOffset: $0.start)
        })
        let honest = ACPIImage().memory().withLayout(layout)
        let tables = try GuestACPITables.read(from: honest)
        #expect(tables.entrySize == 8 && tables.pageAddress == UInt64(ACPIImage.pageAddress))
        let targets = try HostileTargets(map: map)
        #expect(targets.blockEnd == 2 << 20 && targets.pastBlockEnd == "RAM block 'ram-node1'")
        #expect(targets.hole.start == 0xb000_0000)
        let value = try honest.read(at: tables.pageAddress + VMGenIDTable.valueOffset, count: VMGenIDTable.valueLength)
        let cases = HostileCase.all(tables, targets, deviceValue: value)
        #expect(cases.count == 11)
        for hostile in cases {
            let memory = honest.withLayout(layout)
            for bytes in hostile.writes {
                for part in layout.parts(of: bytes.address, count: bytes.bytes.count) {
                    let from = Int(part.address - bytes.address)
                    memory.poke(Array(bytes.bytes[from..<from + part.count]), at: Int(part.address))
                }
            }
            do {
                let slot = try ACPIWalk.locateVMGenID(in: memory).slot
                // The copy is where the tables say the device is: the walk
                // alone cannot tell; QEMU's device state names the real page.
                #expect(hostile.name == "vgia-at-a-copy", "\(hostile.name) was not refused")
                #expect(slot.address == HostileTargets.decoyPage + VMGenIDTable.valueOffset)
                #expect(try memory.read(at: slot.address, count: slot.region.length) == value)
                let device = DeviceState(vmgenid: GenerationID(guestBytes: value),
                                         vmgenidValueAddress: tables.pageAddress + VMGenIDTable.valueOffset)
                let refusal = #expect(throws: VMGenIDError.self) {
                    try VMGenIDSignal().holdsDeviceState(slot.region, in: memory, device: device)
                }
                #expect(refusal.map { "\($0)".contains(hostile.reason) } == true, "\(String(describing: refusal))")
            } catch {
                #expect("\(error)".contains(hostile.reason), "\(hostile.name): \(error)")
            }
        }
    }
}
