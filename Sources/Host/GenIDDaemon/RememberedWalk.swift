import Synchronization
import VMGenID

/// The VMGENID region an ACPI walk found, with the tables the walk read to
/// find it (every read but the RSDP's search area). While those bytes are
/// unchanged, a new walk would find the same region: after a reset genidd
/// watches the page every millisecond, and walks again only when the
/// firmware has rewritten the tables.
struct RememberedWalk: Sendable {
    let region: SignalRegion
    let tables: [(address: UInt64, bytes: [UInt8])]

    /// Reads larger than this are the RSDP's search area, not tables.
    static let largestTable = 64 << 10

    static func walk(in memory: some GuestMemory) throws(VMGenIDError) -> RememberedWalk {
        let recorder = RecordingMemory(memory)
        let region = try VMGenIDSignal().locate(in: recorder)
        return RememberedWalk(region: region, tables: recorder.reads.filter { $0.bytes.count <= largestTable })
    }

    func stillHolds(in memory: some GuestMemory) -> Bool {
        tables.allSatisfy { (try? memory.read(at: $0.address, count: $0.bytes.count)) == $0.bytes }
    }

    /// The region for each look: remembered while it holds, walked for
    /// again when it does not, and, while there is none (the firmware has
    /// not written the tables yet), walked for at most every `retry`.
    struct Cache {
        var retry = Duration.milliseconds(10)
        private(set) var walks = 0
        private var remembered: RememberedWalk?
        private var nextTry = ContinuousClock.now

        mutating func region(in memory: some GuestMemory) -> SignalRegion? {
            if let remembered, remembered.stillHolds(in: memory) { return remembered.region }
            remembered = nil
            guard ContinuousClock.now >= nextTry else { return nil }
            walks += 1
            remembered = try? RememberedWalk.walk(in: memory)
            if remembered == nil { nextTry = .now + retry }
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
