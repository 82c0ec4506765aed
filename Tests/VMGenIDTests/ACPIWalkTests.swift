import GuestMemoryFixtures
import Testing
@testable import VMGenID

@Suite struct ACPIWalkTests {
    @Test func findsTheValueThroughTheXSDT() throws {
        let memory = ACPIImage().memory()
        let (slot, table) = try ACPIWalk.locateVMGenID(in: memory)
        #expect(table.pageAddress == UInt64(ACPIImage.pageAddress))
        #expect(slot.address == UInt64(ACPIImage.pageAddress) + 40)
    }

    @Test func findsTheValueThroughTheRSDTOfARevision0RSDP() throws {
        var image = ACPIImage()
        image.rsdpRevision = 0
        let (slot, _) = try ACPIWalk.locateVMGenID(in: image.memory())
        #expect(slot.address == UInt64(ACPIImage.pageAddress) + 40)
    }

    @Test func writeAndVerifyTouchesExactlyTheSixteenBytes() throws {
        let memory = ACPIImage().memory()
        let before = memory.snapshot
        let (slot, _) = try ACPIWalk.locateVMGenID(in: memory)
        let value = try #require(GenerationID("11223344-5566-7788-99aa-bbccddeeff01"))
        try memory.writeAndVerify(value, to: slot)
        #expect(try memory.readValue(at: slot) == value)
        let after = memory.snapshot
        let changed = (0..<after.count).filter { before[$0] != after[$0] }
        #expect(changed == Array(Int(slot.address)..<Int(slot.address) + 16))
        #expect(Array(after[Int(slot.address)..<Int(slot.address) + 16]) == value.guestBytes)
    }

    @Test func vgiaOutsideGuestRAMIsRefused() {
        for vgia: UInt32 in [0x40_0000, 0xffff_f000, UInt32(ACPIImage.ramSize) - 4096 + 4096] {
            var image = ACPIImage()
            image.ssdt = ACPIImage.vmgenidSSDT(vgia: vgia)
            #expect(throws: VMGenIDError.outsideGuestRAM(what: "VMGENID page", address: UInt64(vgia), count: 4096)) {
                try ACPIWalk.locateVMGenID(in: image.memory())
            }
        }
    }

    @Test func unalignedVGIAIsRefused() {
        var image = ACPIImage()
        image.ssdt = ACPIImage.vmgenidSSDT(vgia: UInt32(ACPIImage.pageAddress + 8))
        #expect(throws: VMGenIDError.self) { try ACPIWalk.locateVMGenID(in: image.memory()) }
    }

    @Test func missingRSDP() {
        let memory = ArrayGuestMemory(size: ACPIImage.ramSize)
        #expect(throws: VMGenIDError.rsdpNotFound) { try ACPIWalk.locateVMGenID(in: memory) }
    }

    @Test func rootTableEntryOutsideRAMIsRefusedNotRead() {
        let memory = ACPIImage().memory()
        let xsdt = ACPIImage.table("XSDT", body: le64(0x7fff_ffff_0000) + le64(UInt64(ACPIImage.ssdtAddress)))
        memory.poke(xsdt, at: ACPIImage.xsdtAddress)
        #expect(throws: VMGenIDError.outsideGuestRAM(what: "read", address: 0x7fff_ffff_0000, count: 36)) {
            try ACPIWalk.locateVMGenID(in: memory)
        }
    }

    @Test func hugeClaimedLengthIsRefusedBeforeReading() {
        let memory = ACPIImage().memory()
        memory.poke(le32(0xffff_fff0), at: ACPIImage.xsdtAddress + 4)
        #expect(throws: VMGenIDError.self) { try ACPIWalk.locateVMGenID(in: memory) }
        #expect(memory.refusedReads.withLock { $0 } == 0, "the walk must check lengths before reading")
    }

    @Test func noVMGenIDSSDT() {
        var image = ACPIImage()
        image.ssdt = ACPIImage.table("SSDT", body: [0x10, 0x00])
        #expect(throws: VMGenIDError.noVMGenIDTable(searched: 1)) { try ACPIWalk.locateVMGenID(in: image.memory()) }
    }

    @Test func layoutRejectsOverflowAndStraddling() {
        // 2 GiB low, 2 GiB from 4 GiB, one backing block.
        let layout = GuestRAMLayout(regions: [
            .init(guestPhysicalStart: 0, length: 0x8000_0000, backingOffset: 0),
            .init(guestPhysicalStart: 0x1_0000_0000, length: 0x8000_0000, backingOffset: 0x8000_0000),
        ])
        #expect(layout.backingOffset(of: 0x1_0000_0000, count: 16) == 0x8000_0000)
        #expect(layout.backingOffset(of: 0x7fff_fff8, count: 16) == nil)  // straddles the end of low RAM
        #expect(layout.backingOffset(of: UInt64.max - 4, count: 16) == nil)
        #expect(layout.backingOffset(of: 0, count: -1) == nil)
        // Found by Fuzz/ACPIWalk: a region ending past 2^64 must not trap.
        let huge = GuestRAMLayout(regions: [
            .init(guestPhysicalStart: 0x1_0000_0000, length: .max, backingOffset: 0x8000_0000),
        ])
        #expect(huge.backingOffset(of: 0x1_0000_0000, count: 16) == 0x8000_0000)
        #expect(huge.parts(of: .max - 2, count: 16).map(\.count) == [3])
        // Found by Fuzz/ACPIWalk: a part whose backing offset would overflow is no part.
        let backingAtTheTop = GuestRAMLayout(regions: [.init(guestPhysicalStart: 0, length: 0x1000, backingOffset: .max)])
        #expect(backingAtTheTop.parts(of: 0, count: 16).map(\.address) == [0])
        #expect(backingAtTheTop.parts(of: 1, count: 16).isEmpty)
    }

    /// The BIOS area holds RAM and read-only RAM in separate ranges: the
    /// RSDP scan reads each part on its own and still finds the RSDP.
    @Test func rsdpFoundInASplitBIOSArea() throws {
        let memory = ACPIImage().memory()
        let split = GuestRAMLayout(regions: [
            .init(guestPhysicalStart: 0, length: 0xc_3000, backingOffset: 0),
            .init(guestPhysicalStart: 0xc_3000, length: 0x2_5000, backingOffset: 0xc_3000),
            .init(guestPhysicalStart: 0xe_8000, length: 0x8000, backingOffset: 0xe_8000),
            .init(guestPhysicalStart: 0xf_0000, length: 0x1_0000, backingOffset: 0xf_0000),
            .init(guestPhysicalStart: 0x10_0000, length: UInt64(ACPIImage.ramSize - 0x10_0000),
                  backingOffset: 0x10_0000),
        ])
        #expect(split.parts(of: 0xe_0000, count: 0x2_0000).map(\.address) == [0xe_0000, 0xe_8000, 0xf_0000])
        #expect(split.backingOffset(of: 0xe_fff8, count: 16) == nil)
        let slot = try ACPIWalk.locateVMGenID(in: memory.withLayout(split)).slot
        #expect(slot.address == UInt64(ACPIImage.pageAddress) + 40)
    }

    /// Property: whatever the guest does to its ACPI tables, the walk ends
    /// in a VMGenIDError or a slot inside guest RAM, every read it tries
    /// is checked, and the only write is the 16 bytes of that slot.
    @Test func randomlyCorruptedTablesNeverEscapeGuestRAM() throws {
        var rng = SystemRandomNumberGenerator()
        let areas = [(ACPIImage.rsdpAddress, 36), (ACPIImage.rsdtAddress, 44), (ACPIImage.xsdtAddress, 52),
                     (ACPIImage.ssdtAddress, qemuVMGenIDSSDT.count)]
        let memory = ACPIImage().memory()
        let pristine = areas.map { memory.peek($0.0, count: $0.1) }
        var located = 0
        for _ in 0..<3000 {
            for (area, bytes) in zip(areas, pristine) { memory.poke(bytes, at: area.0) }
            memory.writes.withLock { $0.removeAll() }
            for _ in 0..<Int.random(in: 0...6, using: &rng) {
                let (start, length) = areas.randomElement(using: &rng)!
                memory.poke([UInt8.random(in: 0...255, using: &rng)], at: start + Int.random(in: 0..<length, using: &rng))
                // Half the time the guest also fixes the checksums, so the
                // structure behind them is what gets tested.
                if Bool.random(using: &rng) { fixChecksums(memory) }
            }
            guard let (slot, _) = try? ACPIWalk.locateVMGenID(in: memory) else { continue }
            located += 1
            #expect(memory.layout.contains(slot.address, count: 16))
            try memory.writeAndVerify(GenerationID(rfcBytes: [UInt8](repeating: 0xab, count: 16))!, to: slot)
            #expect(memory.writes.withLock { $0 } == [slot.address..<slot.address + 16])
        }
        #expect(located > 0)
    }

    private func fixChecksums(_ memory: ArrayGuestMemory) {
        func fix(_ start: Int, length: Int, at index: Int) {
            var table = memory.peek(start, count: length)
            table[index] = 0
            table[index] = 0 &- table.reduce(0, &+)
            memory.poke(table, at: start)
        }
        fix(ACPIImage.rsdpAddress, length: 20, at: 8)
        fix(ACPIImage.rsdpAddress, length: 36, at: 32)
        for start in [ACPIImage.rsdtAddress, ACPIImage.xsdtAddress, ACPIImage.ssdtAddress] {
            let length = Int(le32Value(memory.peek(start + 4, count: 4), 0))
            if length >= 36, length <= 1024 { fix(start, length: length, at: 9) }
        }
    }

    private func le32Value(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << ($1 * 8) }
    }
}
