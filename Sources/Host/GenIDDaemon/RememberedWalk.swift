import Synchronization
import VMGenID

/// The VMGENID region an ACPI walk found, with the tables the walk read to
/// find it. While those bytes are unchanged, a new walk would find the
/// same region: after a reset genidd watches the page every millisecond,
/// and walks again only when the firmware has rewritten the tables.
struct RememberedWalk: Sendable {
    let region: SignalRegion
    let tables: [(address: UInt64, bytes: [UInt8])]

    /// Reads below this are the RSDP's search areas (the BIOS area, the
    /// BDA's EBDA pointer and the EBDA); QEMU's tables lie above it.
    static let tablesStart: UInt64 = 0x10_0000

    /// nil when the walk read no table above `tablesStart`: nothing to
    /// watch, so nothing to remember.
    static func walk(in memory: some GuestMemory) throws(VMGenIDError) -> RememberedWalk? {
        let recorder = RecordingMemory(memory)
        let region = try VMGenIDSignal().locate(in: recorder)
        let tables = recorder.reads.filter { $0.address >= tablesStart }
        return tables.isEmpty ? nil : RememberedWalk(region: region, tables: tables)
    }

    func stillHolds(in memory: some GuestMemory) -> Bool {
        tables.allSatisfy { (try? memory.read(at: $0.address, count: $0.bytes.count)) == $0.bytes }
    }

    /// The region for each look: remembered while its tables hold; walked
    /// for again when they do not, at most every `interval` (a guest that
    /// rewrites its tables all the time gets a walk every `interval`, not
    /// one per look).
    struct Cache {
        var interval = Duration.milliseconds(10)
        private(set) var walks = 0
        private var remembered: RememberedWalk?
        private var nextWalk = ContinuousClock.now

        mutating func region(in memory: some GuestMemory) -> SignalRegion? {
            if let remembered, remembered.stillHolds(in: memory) { return remembered.region }
            remembered = nil
            guard ContinuousClock.now >= nextWalk else { return nil }
            walks += 1
            nextWalk = .now + interval
            remembered = (try? RememberedWalk.walk(in: memory)) ?? nil
            return remembered?.region
        }
    }
}

/// Guest memory that notes every read it passes on.
private final class RecordingMemory<Base: GuestMemory>: GuestMemory {
    let base: Base
    private let log = Mutex<[(address: UInt64, bytes: [UInt8])]>([])

    init(_ base: Base) { self.base = base }

    var layout: GuestRAMLayout { base.layout }
    var reads: [(address: UInt64, bytes: [UInt8])] { log.withLock { $0 } }

    func read(at address: UInt64, count: Int) throws(VMGenIDError) -> [UInt8] {
        let bytes = try base.read(at: address, count: count)
        log.withLock { $0.append((address, bytes)) }
        return bytes
    }

    func write(_ bytes: [UInt8], at offset: Int, in region: SignalRegion) throws(VMGenIDError) {
        try base.write(bytes, at: offset, in: region)
    }
}
