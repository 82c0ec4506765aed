/// Read access to a guest's RAM, and write access to exactly one place: the
/// 16-byte VMGENID value.
///
/// Implementations check every access against `layout` (see
/// `GuestRAMLayout.backingOffset`), so a guest-supplied address can never
/// reach outside guest RAM. The only write takes a `VMGenIDSlot`, which only
/// this module can create, from a page address found in the guest's ACPI
/// tables and checked against the layout: nothing but those 16 bytes is
/// ever written.
public protocol GuestMemory: Sendable {
    var layout: GuestRAMLayout { get }
    func read(at address: UInt64, count: Int) throws(VMGenIDError) -> [UInt8]
    func write(_ value: GenerationID, to slot: VMGenIDSlot) throws(VMGenIDError)
}

/// The 16 bytes at page + 40 of a located VMGENID page.
public struct VMGenIDSlot: Sendable, Equatable, CustomStringConvertible {
    /// Guest-physical address of the value.
    public let address: UInt64

    /// Only the ACPI walk makes slots, after checking the page lies in RAM.
    init(pageAddress: UInt64, layout: GuestRAMLayout) throws(VMGenIDError) {
        let (address, overflow) = pageAddress.addingReportingOverflow(VMGenIDTable.valueOffset)
        guard !overflow, layout.contains(address, count: VMGenIDTable.valueLength),
              pageAddress % 4096 == 0
        else {
            throw .outsideGuestRAM(what: "VMGENID page", address: pageAddress, count: 4096)
        }
        self.address = address
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
        try write(value, to: slot)
        let back = try read(at: slot.address, count: VMGenIDTable.valueLength)
        guard back == value.guestBytes else { throw .verifyFailed(slot: slot.address, wrote: value, read: back) }
    }
}
