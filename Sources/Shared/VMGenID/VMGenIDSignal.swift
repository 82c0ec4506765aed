/// The ACPI VM Generation ID: the 16 bytes at VGIA + 40 that the VMGENID
/// SSDT names. The guest kernel reads them when the host notifies it
/// (QEMU queues the notification at every state load).
public struct VMGenIDSignal: GenerationSignal {
    public let name = "vmgenid"

    public init() {}

    public func locate(in memory: some GuestMemory) throws(VMGenIDError) -> SignalRegion {
        try ACPIWalk.locateVMGenID(in: memory).slot.region
    }

    public func holdsDeviceState(_ region: SignalRegion, in memory: some GuestMemory,
                                 device: DeviceState) throws(VMGenIDError) -> Bool {
        guard let expected = device.vmgenid else { return false }
        // A copy of the value elsewhere in guest RAM holds it after a load
        // just as the device's page does: only QEMU can say which is which.
        if let address = device.vmgenidValueAddress, address != region.address {
            throw .vmgenidElsewhere(tables: region.address, qemu: address)
        }
        return try memory.read(at: region.address, count: VMGenIDTable.valueLength) == expected.guestBytes
    }

    public func write(_ generation: GenerationID, into region: SignalRegion,
                      in memory: some GuestMemory) throws(VMGenIDError) {
        try memory.write(generation.guestBytes, at: 0, in: region)
        let back = try memory.read(at: region.address, count: VMGenIDTable.valueLength)
        guard back == generation.guestBytes else {
            throw .verifyFailed(slot: region.address, wrote: generation, read: back)
        }
    }
}
