import GuestMemoryFixtures
import Testing
import VMGenID

/// The signal seam's rule: a signal writes only inside the region it
/// located from the guest's tables, and every write is checked against
/// that region and guest RAM before it lands.
@Suite struct GenerationSignalTests {
    let memory = ACPIImage().memory()
    let slot = UInt64(ACPIImage.pageAddress + 40)

    @Test func vmgenidLocatesTheSixteenBytesTheTablesName() throws {
        let region = try VMGenIDSignal().locate(in: memory)
        #expect(region.signal == "vmgenid" && region.address == slot && region.length == 16)
        #expect(region.description == "0x" + String(slot, radix: 16))
    }

    @Test func itWritesReadsBackAndChecksTheDevicesState() throws {
        let signal = VMGenIDSignal()
        let region = try signal.locate(in: memory)
        let device = GenerationID.random()
        memory.poke(device.guestBytes, at: Int(slot))
        #expect(try signal.holdsDeviceState(region, in: memory, device: DeviceState(vmgenid: device)))
        #expect(try !signal.holdsDeviceState(region, in: memory, device: DeviceState(vmgenid: .random())))
        #expect(try !signal.holdsDeviceState(region, in: memory, device: DeviceState(vmgenid: nil)))
        let fresh = GenerationID.random()
        try signal.write(fresh, into: region, in: memory)
        #expect(memory.peek(Int(slot), count: 16) == fresh.guestBytes)
        #expect(memory.writes.withLock { $0 } == [slot..<slot + 16])
    }

    @Test(arguments: [(offset: 1, count: 16), (offset: 16, count: 1), (offset: -1, count: 2), (offset: 0, count: 17),
                      (offset: Int.max, count: 1), (offset: 8, count: Int.max)])
    func aWriteOutsideTheRegionIsRefusedAndNothingLands(offset: Int, count: Int) throws {
        let region = try VMGenIDSignal().locate(in: memory)
        let before = memory.snapshot
        let bytes = [UInt8](repeating: 0xaa, count: min(count, 64))
        #expect(throws: VMGenIDError.self) { try memory.write(bytes, at: offset, in: region) }
        #expect(memory.snapshot == before && memory.writes.withLock { $0 }.isEmpty)
    }

    @Test func aWriteThatDoesNotReadBackIsReported() throws {
        let region = try VMGenIDSignal().locate(in: memory)
        let stuck = StuckMemory(memory)
        let error = #expect(throws: VMGenIDError.self) {
            try VMGenIDSignal().write(.random(), into: region, in: stuck)
        }
        #expect("\(error!)".contains("read back"))
    }
}

/// Guest memory whose writes never land (a page rewritten behind the host's back).
struct StuckMemory: GuestMemory {
    let base: ArrayGuestMemory
    init(_ base: ArrayGuestMemory) { self.base = base }
    var layout: GuestRAMLayout { base.layout }
    func read(at address: UInt64, count: Int) throws(VMGenIDError) -> [UInt8] { try base.read(at: address, count: count) }
    func write(_ bytes: [UInt8], at offset: Int, in region: SignalRegion) throws(VMGenIDError) {
        _ = try checkedWrite(of: bytes.count, at: offset, in: region)
    }
}
