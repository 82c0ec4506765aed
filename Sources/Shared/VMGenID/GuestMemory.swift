/// Read access to a guest's RAM, and write access only inside the regions
/// of generation signals.
///
/// Implementations check every access against `layout` (see
/// `GuestRAMLayout.backingOffset`), so a guest-supplied address can never
/// reach outside guest RAM. The only write takes a `SignalRegion`, which
/// only this module's signals can create, from addresses found in the
/// guest's ACPI tables and checked against the layout, and it must land
/// inside that region (`checkedWrite`): nothing else is ever written.
public protocol GuestMemory: Sendable {
    var layout: GuestRAMLayout { get }
    func read(at address: UInt64, count: Int) throws(VMGenIDError) -> [UInt8]
    /// Writes `bytes` at `offset` of `region`.
    func write(_ bytes: [UInt8], at offset: Int, in region: SignalRegion) throws(VMGenIDError)
}

/// The 16 bytes at page + 40 of a located VMGENID page.
public struct VMGenIDSlot: Sendable, Equatable, CustomStringConvertible {
    /// The 16 bytes, as the region the VMGENID signal writes.
    public let region: SignalRegion
    /// Guest-physical address of the value.
    public var address: UInt64 { region.address }

    /// Only the ACPI walk makes slots, after checking the page lies in RAM.
    init(pageAddress: UInt64, layout: GuestRAMLayout) throws(VMGenIDError) {
        let (address, overflow) = pageAddress.addingReportingOverflow(VMGenIDTable.valueOffset)
        guard !overflow, layout.contains(address, count: VMGenIDTable.valueLength),
              pageAddress % 4096 == 0
        else {
            throw .outsideGuestRAM(what: "VMGENID page", address: pageAddress, count: 4096)
        }
        region = try SignalRegion(signal: "vmgenid", address: address, length: VMGenIDTable.valueLength,
                                  layout: layout)
    }

    public var description: String { "0x" + String(address, radix: 16) }
}

extension GuestMemory {
    /// The value currently in the slot.
    public func readValue(at slot: VMGenIDSlot) throws(VMGenIDError) -> GenerationID {
        let bytes = try read(at: slot.address, count: VMGenIDTable.valueLength)
        return GenerationID(guestBytes: bytes)!
    }

    /// Writes `value` and reads it back; throws if the bytes differ.
    public func writeAndVerify(_ value: GenerationID, to slot: VMGenIDSlot) throws(VMGenIDError) {
        try VMGenIDSignal().write(value, into: slot.region, in: self)
    }
}
