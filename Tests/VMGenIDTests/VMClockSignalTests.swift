import GuestMemoryFixtures
import Testing
import VMGenID

/// The VMClock signal on a page shaped like QEMU's (the kernel's
/// vmclock-abi.h layout): genid's write follows the sequence-counter
/// protocol, sets VM_GEN_COUNTER_PRESENT and gives a counter and a marker
/// taken from the fresh generation, and only where QEMU's structure is.
@Suite struct VMClockSignalTests {
    static let page = UInt64(0x20_0000)
    let page = VMClockSignalTests.page
    let memory: ArrayGuestMemory = {
        var image = ACPIImage()
        image.vmclockSSDT = ACPIImage.vmclockSSDT(page: VMClockSignalTests.page)
        return image.memory()
    }()

    func pokeQEMUPage(sequence: UInt32 = 4, flags: UInt64 = 0, counter: UInt64 = 0, magic: UInt32 = 0x4b4c_4356) {
        func le(_ value: UInt64, _ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
        memory.poke(le(UInt64(magic), 4) + le(112, 4) + le(1, 2) + [1, 0] + le(UInt64(sequence), 4)
                        + le(7, 8) + le(flags, 8), at: Int(page))
        memory.poke(le(counter, 8), at: Int(page) + 104)
    }

    func field(_ offset: Int, _ count: Int) -> UInt64 {
        memory.peek(Int(page) + offset, count: count).reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    @Test func itWritesUnderTheSequenceCounterAndSetsTheFlag() throws {
        pokeQEMUPage(sequence: 4, flags: 1 << 7)
        let signal = VMClockSignal(pageAddress: page)
        let region = try signal.locate(in: memory)
        #expect(try signal.holdsDeviceState(region, in: memory, device: DeviceState(vmgenid: nil)))
        let fresh = GenerationID.random()
        try signal.write(fresh, into: region, in: memory)
        #expect(field(104, 8) == VMClockSignal.counter(for: fresh))
        #expect(field(16, 8) == VMClockSignal.disruptionMarker(for: fresh))
        #expect(field(24, 8) == (1 << 7 | 1 << 8), "other flags are kept")
        #expect(field(12, 4) == 6, "odd while writing, even (two more) after")
        // The first write makes the counter odd, the last makes it even again.
        let writes = memory.writes.withLock { $0 }
        #expect(writes.first == page + 12..<page + 16 && writes.last == page + 12..<page + 16)
        #expect(writes.allSatisfy { $0.lowerBound >= page && $0.upperBound <= page + 112 })
    }

    @Test func countersComeFromTheGenerationAndDiffer() {
        let values = (0..<100).map { _ in GenerationID.random() }
        let counters = Set(values.map(VMClockSignal.counter(for:)))
        #expect(counters.count == values.count)
        let value = GenerationID("00010203-0405-0607-0809-0a0b0c0d0e0f")!
        #expect(VMClockSignal.counter(for: value) == 0x0706_0504_0302_0100)
        #expect(VMClockSignal.disruptionMarker(for: value) == 0x0f0e_0d0c_0b0a_0908)
    }

    @Test func nothingIsWrittenWhereQEMUsStructureIsNot() throws {
        pokeQEMUPage(magic: 0x1234_5678)
        let signal = VMClockSignal(pageAddress: page)
        let region = try signal.locate(in: memory)
        #expect(try !signal.holdsDeviceState(region, in: memory, device: DeviceState(vmgenid: nil)))
    }

    /// The guest's tables and QEMU's memory map must agree; a range outside
    /// what the host can reach is refused too.
    @Test func thePageIsWhereTheTablesAndQEMUBothSay() throws {
        #expect(try VMClockSignal(pageAddress: page).locate(in: memory).address == page)
        let elsewhere = #expect(throws: VMGenIDError.self) { try VMClockSignal(pageAddress: 0xfeff_b000).locate(in: memory) }
        #expect("\(elsewhere!)".contains("QEMU's memory map at 0xfeffb000"))
        var outside = ACPIImage()
        outside.vmclockSSDT = ACPIImage.vmclockSSDT(page: UInt64.max - 8)
        #expect(throws: VMGenIDError.self) { try VMClockSignal(pageAddress: UInt64.max - 8).locate(in: outside.memory()) }
        let none = #expect(throws: VMGenIDError.self) { try VMClockSignal(pageAddress: page).locate(in: ACPIImage().memory()) }
        #expect("\(none!)".contains("VMCLOCK"))
    }

    /// QEMU 11.1's own table parses to QEMU's fixed address.
    @Test func qemusOwnTableNamesItsPage() throws {
        let table = try VMClockTable(ssdt: qemuVMClockSSDT)
        #expect(table.pageAddress == 0xfeff_b000 && table.length == 0x1000)
        var corrupted = qemuVMClockSSDT
        corrupted[0x40] ^= 0xff
        #expect(throws: VMGenIDError.badChecksum(signature: "SSDT")) { try VMClockTable(ssdt: corrupted) }
        #expect(throws: VMGenIDError.self) { try VMClockTable(ssdt: Array(qemuVMClockSSDT.prefix(100))) }
    }

    @Test func aWriteThatDoesNotReadBackIsReported() throws {
        pokeQEMUPage()
        let signal = VMClockSignal(pageAddress: page)
        let region = try signal.locate(in: memory)
        let error = #expect(throws: VMGenIDError.self) { try signal.write(.random(), into: region, in: StuckMemory(memory)) }
        #expect("\(error!)".contains("vmclock") && "\(error!)".contains("does not read back"))
    }
}
