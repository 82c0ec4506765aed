/// Guest RAM plus device pages that are not part of it: QEMU keeps its
/// vmclock page in a RAM block of its own, outside the guest RAM a shared
/// file or the RAM layout covers, so it is reached through QEMU's
/// `/proc/PID/mem` at the host address QEMU names for it.
///
/// Each access goes to the memory whose layout holds it, and that memory
/// checks it again; the combined layout is what signals locate against.
public final class GuestMemoryWithDevicePages: GuestMemory, Sendable {
    public let layout: GuestRAMLayout
    public let ram: any GuestMemory
    public let devicePages: ProcessMemory

    public init(ram: any GuestMemory, devicePages: ProcessMemory) {
        self.ram = ram
        self.devicePages = devicePages
        self.layout = GuestRAMLayout(regions: ram.layout.regions + devicePages.layout.regions)
    }

    public func read(at address: UInt64, count: Int) throws(VMGenIDError) -> [UInt8] {
        if ram.layout.contains(address, count: count) { return try ram.read(at: address, count: count) }
        return try devicePages.read(at: address, count: count)
    }

    public func write(_ bytes: [UInt8], at offset: Int, in region: SignalRegion) throws(VMGenIDError) {
        if ram.layout.contains(region.address, count: region.length) {
            try ram.write(bytes, at: offset, in: region)
        } else {
            try devicePages.write(bytes, at: offset, in: region)
        }
    }
}
