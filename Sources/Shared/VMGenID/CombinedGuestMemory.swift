/// Guest memory reached through several backing stores: guest RAM in one
/// memfd per NUMA node, or guest RAM plus device pages that are not part of
/// it (QEMU keeps its vmclock page in a RAM block of its own, reached
/// through QEMU's `/proc/PID/mem`).
///
/// Each access goes to the first part whose layout holds all of it, and
/// that part checks it again; an access no single part holds is refused.
/// The combined layout is what signals locate against.
public final class CombinedGuestMemory: GuestMemory, Sendable {
    public let layout: GuestRAMLayout
    public let parts: [any GuestMemory]

    public init(_ parts: [any GuestMemory]) {
        self.parts = parts
        self.layout = GuestRAMLayout(regions: parts.flatMap(\.layout.regions))
    }

    public func read(at address: UInt64, count: Int) throws(VMGenIDError) -> [UInt8] {
        guard let part = parts.first(where: { $0.layout.contains(address, count: count) }) else {
            throw .outsideGuestRAM(what: "read", address: address, count: count)
        }
        return try part.read(at: address, count: count)
    }

    public func write(_ bytes: [UInt8], at offset: Int, in region: SignalRegion) throws(VMGenIDError) {
        guard let part = parts.first(where: { $0.layout.contains(region.address, count: region.length) }) else {
            throw .outsideGuestRAM(what: "\(region.signal) write", address: region.address, count: region.length)
        }
        try part.write(bytes, at: offset, in: region)
    }
}
