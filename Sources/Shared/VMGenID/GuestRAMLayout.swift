/// Where guest RAM sits in guest-physical address space, and where each
/// part lives in the backing store (the shared RAM file, or QEMU's address
/// space). Every guest memory access is checked against it first.
public struct GuestRAMLayout: Sendable, Equatable {
    public struct Region: Sendable, Equatable {
        public let guestPhysicalStart: UInt64
        public let length: UInt64
        /// Offset of `guestPhysicalStart` in the backing store.
        public let backingOffset: UInt64

        public init(guestPhysicalStart: UInt64, length: UInt64, backingOffset: UInt64) {
            self.guestPhysicalStart = guestPhysicalStart
            self.length = length
            self.backingOffset = backingOffset
        }
    }

    public let regions: [Region]

    public init(regions: [Region]) {
        self.regions = regions
    }

    /// QEMU's q35 machine: RAM below 4 GiB up to 2.75 GiB (2 GiB when the
    /// guest has 2.75 GiB or more), the rest from 4 GiB up, both from one
    /// backing block. Assumes no `max-ram-below-4g` override.
    public static func q35(ramSize: UInt64) -> GuestRAMLayout {
        let lowLimit: UInt64 = ramSize >= 0xb000_0000 ? 0x8000_0000 : 0xb000_0000
        let below4G = min(ramSize, lowLimit)
        var regions = [Region(guestPhysicalStart: 0, length: below4G, backingOffset: 0)]
        if ramSize > below4G {
            regions.append(Region(guestPhysicalStart: 0x1_0000_0000, length: ramSize - below4G, backingOffset: below4G))
        }
        return GuestRAMLayout(regions: regions)
    }

    /// The backing offset of `count` bytes at `address`, if they lie wholly
    /// inside one RAM region; nil otherwise. Written with subtractions only,
    /// so no guest-supplied address or region can overflow it.
    public func backingOffset(of address: UInt64, count: Int) -> UInt64? {
        guard count >= 0 else { return nil }
        let wanted = UInt64(count)
        for region in regions where address >= region.guestPhysicalStart {
            let into = address - region.guestPhysicalStart
            guard into <= region.length, wanted <= region.length - into else { continue }
            let (offset, overflow) = region.backingOffset.addingReportingOverflow(into)
            return overflow ? nil : offset
        }
        return nil
    }

    public func contains(_ address: UInt64, count: Int) -> Bool {
        backingOffset(of: address, count: count) != nil
    }
}
