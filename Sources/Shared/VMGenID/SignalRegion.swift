/// A place in guest memory where a generation signal lives: located from
/// the guest's own tables and checked to lie wholly inside guest RAM. Only
/// this module's signals make one (the initializer is internal), and
/// `GuestMemory`'s only write takes one, so the host writes nowhere else.
public struct SignalRegion: Sendable, Equatable, CustomStringConvertible {
    /// The signal it belongs to ("vmgenid").
    public let signal: String
    /// Guest-physical address of the first byte.
    public let address: UInt64
    public let length: Int

    init(signal: String, address: UInt64, length: Int, layout: GuestRAMLayout) throws(VMGenIDError) {
        guard length > 0, layout.contains(address, count: length) else {
            throw .outsideGuestRAM(what: "\(signal) region", address: address, count: length)
        }
        self.signal = signal
        self.address = address
        self.length = length
    }

    /// The guest-physical address of `count` bytes at `offset`, if they lie
    /// inside the region (subtractions only: nothing can overflow).
    public func address(ofOffset offset: Int, count: Int) -> UInt64? {
        guard offset >= 0, count >= 0, offset <= length, count <= length - offset else { return nil }
        return address + UInt64(offset)
    }

    public var description: String { "0x" + String(address, radix: 16) }
}

extension GuestMemory {
    /// Where a write of `count` bytes at `offset` of `region` lands: its
    /// guest-physical address and its offset in the backing store. Every
    /// implementation's write goes through this check.
    public func checkedWrite(of count: Int, at offset: Int,
                             in region: SignalRegion) throws(VMGenIDError) -> (address: UInt64, backing: UInt64) {
        guard let address = region.address(ofOffset: offset, count: count),
              let backing = layout.backingOffset(of: address, count: count) else {
            throw .outsideGuestRAM(what: "\(region.signal) write", address: region.address &+ UInt64(max(offset, 0)),
                                   count: count)
        }
        return (address, backing)
    }
}
