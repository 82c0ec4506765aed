/// Where guest RAM sits in guest-physical address space, and where each
/// part lives in the backing store (the shared RAM file, or QEMU's address
/// space). Every guest memory access is checked against it first, and must
/// lie wholly inside one region: made from QEMU's own map
/// (`QEMUMemoryMap`), a region is one range of one RAM block, so no access
/// can run from one block into whatever follows it in the backing store.
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

    /// The parts of `count` bytes at `start` that lie inside regions and
    /// that `contains` accepts, in address order (a scan of an area that
    /// holds RAM and other things, such as the BIOS area, reads each part on
    /// its own). Subtractions only.
    public func parts(of start: UInt64, count: Int) -> [(address: UInt64, count: Int)] {
        guard count > 0 else { return [] }
        // Nothing past the last address: an area that would wrap ends there.
        let wanted = UInt64(count) - 1 > UInt64.max - start ? UInt64.max - start + 1 : UInt64(count)
        var parts: [(address: UInt64, count: Int)] = []
        for region in regions where region.length > 0 {
            // Overlap of [start, start + wanted) and [region start, region start + length), without overflow.
            let first = max(start, region.guestPhysicalStart)
            let intoArea = first - start, intoRegion = first - region.guestPhysicalStart
            guard intoArea < wanted, intoRegion < region.length else { continue }
            let length = Int(min(wanted - intoArea, region.length - intoRegion))
            // Only what a read may have: the same check every access gets.
            if contains(first, count: length) { parts.append((first, length)) }
        }
        return parts.sorted { $0.address < $1.address }
    }
}
