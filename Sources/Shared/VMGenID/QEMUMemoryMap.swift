/// QEMU's own map of a VM's guest-physical address space: the flat view of
/// address space "memory" that HMP `info mtree -f` prints, one line per
/// range, `START-END (prio P, TYPE): NAME [@OFFSET]`. NAME is the memory
/// region that owns the bytes (a RAM block: "pc.ram", a backend's id such as
/// "ram-node1", "vmclock_page"), OFFSET where the range starts inside it.
///
/// This is the only source of where guest RAM is: no machine type, NUMA
/// layout or `max-ram-below-4g` is assumed. The text comes from QEMU, but it
/// is parsed as hostile: any line of the view that is not exactly a range,
/// or ranges out of order, refuse the whole map.
public struct QEMUMemoryMap: Sendable, Equatable {
    public struct Range: Sendable, Equatable {
        public let start: UInt64
        /// At least 1; `start + length - 1` does not overflow.
        public let length: UInt64
        /// QEMU's type: "ram", "rom", "romd", "ramd", "i/o", "nv-ram", ...
        public let type: String
        public let name: String
        /// Where `start` lies inside the memory region `name` (its `@OFFSET`).
        public let offsetInRegion: UInt64
        /// RAM the flat view hides behind what the chipset shows there
        /// (`QEMUMemoryMap.biosArea`); never a line of QEMU's.
        public let isBeneathChipset: Bool

        public init(start: UInt64, length: UInt64, type: String, name: String, offsetInRegion: UInt64,
                    isBeneathChipset: Bool = false) {
            self.start = start
            self.length = length
            self.type = type
            self.name = name
            self.offsetInRegion = offsetInRegion
            self.isBeneathChipset = isBeneathChipset
        }

        /// The guest-physical address of the last byte.
        public var last: UInt64 { start + (length - 1) }
    }

    static let maximumRanges = 4096

    /// Every range of the "memory" flat view, in address order.
    public let ranges: [Range]

    public init(ranges: [Range]) {
        self.ranges = ranges
    }

    /// Parses `info mtree -f` (QEMU 7.2 and later print the same form).
    public init(flatView text: String) throws(VMGenIDError) {
        var ranges: [Range] = []
        var inView = false, found = false, headerDone = false
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingPrefix(while: \.isWhitespace)
            if line.hasPrefix("FlatView #") {
                if found { break }
                inView = false
                headerDone = false
                continue
            }
            if line.hasPrefix("AS \"") {
                guard !headerDone else { throw .memoryMap("an address space name among the ranges: '\(excerpt(raw))'") }
                if line.hasPrefix("AS \"memory\",") { inView = true; found = true }
                continue
            }
            guard inView else { continue }
            if line.hasPrefix("Root memory region:") || line.hasPrefix("No rendered FlatView") {
                headerDone = true
                continue
            }
            if line.isEmpty { continue }
            headerDone = true
            guard let range = Self.range(parsing: line) else {
                throw .memoryMap("line '\(excerpt(raw))' is not 'START-END (prio P, TYPE): NAME [@OFFSET]'")
            }
            if let previous = ranges.last, range.start <= previous.last {
                throw .memoryMap("range at 0x\(String(range.start, radix: 16)) overlaps or precedes the one before it")
            }
            ranges.append(range)
        }
        guard found else { throw .memoryMap("no flat view of address space \"memory\"") }
        // Two monitor commands per RAM range follow: a machine has a handful.
        guard ranges.count <= Self.maximumRanges else {
            throw .memoryMap("\(ranges.count) ranges; refusing more than \(Self.maximumRanges)")
        }
        self.ranges = ranges
    }

    /// One range line, leading blanks removed; nil unless exactly that form.
    static func range(parsing line: Substring) -> Range? {
        guard let dash = line.firstIndex(of: "-"),
              let start = hex(line[..<dash]) else { return nil }
        let afterDash = line[line.index(after: dash)...]
        guard let space = afterDash.firstIndex(of: " "), let end = hex(afterDash[..<space]), end >= start,
              end - start < UInt64.max else { return nil }
        let rest = afterDash[space...]
        guard rest.hasPrefix(" (prio "), let close = rest.firstIndex(of: ")") else { return nil }
        let attributes = rest[rest.index(rest.startIndex, offsetBy: 7)..<close].split(separator: ", ",
                                                                                       omittingEmptySubsequences: false)
        guard attributes.count == 2, Int(attributes[0]) != nil, !attributes[1].isEmpty,
              attributes[1].allSatisfy({ $0.isLetter || $0 == "/" || $0 == "-" }) else { return nil }
        let afterClose = rest[rest.index(after: close)...]
        guard afterClose.hasPrefix(": ") else { return nil }
        var name = afterClose.dropFirst(2)
        // Under an accelerator that holds memory slots (KVM), QEMU names it
        // after every range it holds, once per address space: "… @… KVM".
        while let space = name.lastIndex(of: " "),
              acceleratorNames.contains(String(name[name.index(after: space)...])) {
            name = name[..<space]
        }
        var offset: UInt64 = 0
        // " @" and exactly 16 hex digits at the end: the offset in the region.
        if name.count > 18, name.dropLast(16).hasSuffix(" @"), let parsed = hex(name.suffix(16)) {
            offset = parsed
            name = name.dropLast(18)
        }
        // A name with " @" left in it is an offset garbled or cut short.
        guard !name.isEmpty, !name.hasPrefix(" "), !name.contains(" @"),
              name.allSatisfy({ $0.isASCII && !$0.isNewline }) else { return nil }
        return Range(start: start, length: end - start + 1, type: String(attributes[1]), name: String(name),
                     offsetInRegion: offset)
    }

    /// What QEMU prints after a range an accelerator holds (its `AccelClass` name).
    static let acceleratorNames: Set<String> = ["KVM", "HVF", "WHPX", "NVMM"]

    /// 1 to 16 hex digits, nothing else.
    public static func hex(_ text: Substring) -> UInt64? {
        guard (1...16).contains(text.count), text.allSatisfy(\.isHexDigit) else { return nil }
        return UInt64(text, radix: 16)
    }

    /// The ranges that are guest RAM the host may read and write:
    /// - `ram`: RAM the guest reads and writes at that address.
    /// - `rom` of a region that is also mapped as `ram` in this view: guest
    ///   RAM that the chipset (PAM) shows read-only, where SeaBIOS leaves
    ///   its F-segment with the RSDP. Same RAM block, same bytes.
    /// - the RAM beneath the BIOS area, when the view shows firmware there
    ///   (`ramBeneathBIOSArea`).
    /// Refused: `rom` of a region never mapped as RAM (firmware images such
    /// as pc.bios, option ROMs: nothing genid looks for is there), `romd`
    /// (a device decides what a read returns, e.g. flash in command mode),
    /// `ramd` (device memory such as a passed-through BAR, reads may have
    /// side effects), `nv-` ranges, `i/o` and anything else.
    public var guestRAM: [Range] {
        let ram = viewedRAM
        guard let beneath = ramBeneathBIOSArea(viewed: ram) else { return ram }
        return (ram + [beneath]).sorted { $0.start < $1.start }
    }

    /// The guest RAM ranges whose host addresses QEMU gives (`gpa2hva` of
    /// each end): all but the RAM beneath the BIOS area, where `gpa2hva`
    /// would translate what the chipset shows instead.
    public var translatedRAM: [Range] { guestRAM.filter { !$0.isBeneathChipset } }

    private var viewedRAM: [Range] {
        let ramNames = Set(ranges.filter { $0.type == "ram" }.map(\.name))
        return ranges.filter { $0.type == "ram" || ($0.type == "rom" && ramNames.contains($0.name)) }
    }

    /// 0xE0000-0xFFFFF: where the firmware leaves the RSDP.
    public static let biosArea: ClosedRange<UInt64> = 0xe_0000...0xf_ffff
    static let oneMiB: UInt64 = 0x10_0000

    /// At reset, and in a QEMU waiting for an incoming state, the chipset
    /// (PAM) shows the firmware image in the BIOS area; the bytes the
    /// guest's OS reads there (SeaBIOS shadows itself into RAM and leaves
    /// the RSDP in it) are in the RAM block beneath, which a state load or
    /// the firmware switches back into view. A map taken before either
    /// would otherwise hold no RSDP. When the block that holds low memory
    /// (the `ram` range at 0, offset 0) also holds the RAM at 1 MiB (offset
    /// 1 MiB), it runs unbroken beneath the BIOS area: that is the range.
    /// Nil when the view shows any guest RAM in the BIOS area itself.
    private func ramBeneathBIOSArea(viewed ram: [Range]) -> Range? {
        let area = Self.biosArea
        guard !ram.contains(where: { $0.start <= area.upperBound && $0.last >= area.lowerBound }),
              let low = ram.first(where: { $0.start == 0 && $0.offsetInRegion == 0 && $0.type == "ram" }),
              ram.contains(where: { $0.name == low.name && $0.type == "ram" && $0.start == Self.oneMiB
                  && $0.offsetInRegion == Self.oneMiB }) else { return nil }
        return Range(start: area.lowerBound, length: area.upperBound - area.lowerBound + 1, type: "ram",
                     name: low.name, offsetInRegion: area.lowerBound, isBeneathChipset: true)
    }

    /// The RAM range named `name` (a device page such as "vmclock_page").
    public func ramRange(named name: String) -> Range? {
        ranges.first { $0.type == "ram" && $0.name == name }
    }

    /// Guest RAM backed by a file whose offset 0 is the start of memory
    /// region `region` (a memory backend's id): each range's backing offset
    /// is its `@OFFSET` in that region.
    public func fileLayout(region: String) throws(VMGenIDError) -> GuestRAMLayout {
        let regions = guestRAM.filter { $0.name == region }.map {
            GuestRAMLayout.Region(guestPhysicalStart: $0.start, length: $0.length, backingOffset: $0.offsetInRegion)
        }
        guard !regions.isEmpty else { throw .memoryMap("memory region '\(region)' holds no guest RAM") }
        return GuestRAMLayout(regions: regions)
    }

    /// Guest RAM in QEMU's address space: `hostAddresses[i]` are QEMU's
    /// host virtual addresses (`gpa2hva`) of the first and the last byte of
    /// `translatedRAM[i]`. A range whose last byte is not where its first plus
    /// its length puts it is not one contiguous mapping: the map is refused.
    /// The RAM beneath the BIOS area lies at its block's offset from where
    /// the block starts, once the block is seen to be one mapping from 0 to
    /// 1 MiB (its range at 1 MiB starts 1 MiB after its range at 0).
    public func processLayout(hostAddresses: [(first: UInt64, last: UInt64)]) throws(VMGenIDError) -> GuestRAMLayout {
        let ram = translatedRAM
        guard hostAddresses.count == ram.count else {
            throw .memoryMap("\(hostAddresses.count) host addresses for \(ram.count) RAM ranges")
        }
        var regions: [GuestRAMLayout.Region] = []
        for (range, host) in zip(ram, hostAddresses) {
            let (expected, overflow) = host.first.addingReportingOverflow(range.length - 1)
            guard !overflow, expected == host.last else {
                throw .memoryMap("range 0x\(String(range.start, radix: 16))-0x\(String(range.last, radix: 16)) "
                    + "(\(range.name)) starts at host 0x\(String(host.first, radix: 16)) but ends at host "
                    + "0x\(String(host.last, radix: 16)), not 0x\(String(expected, radix: 16))")
            }
            regions.append(.init(guestPhysicalStart: range.start, length: range.length, backingOffset: host.first))
        }
        if let beneath = guestRAM.first(where: \.isBeneathChipset) {
            regions.append(try Self.region(beneath, translated: zip(ram, hostAddresses).map { ($0, $1.first) }))
        }
        return GuestRAMLayout(regions: regions.sorted { $0.guestPhysicalStart < $1.guestPhysicalStart })
    }

    /// The host address of the RAM beneath the BIOS area, from those of its
    /// block's ranges at 0 and at 1 MiB.
    private static func region(_ beneath: Range, translated: [(Range, UInt64)]) throws(VMGenIDError)
        -> GuestRAMLayout.Region {
        guard let low = translated.first(where: { $0.0.name == beneath.name && $0.0.start == 0 })?.1,
              let high = translated.first(where: { $0.0.name == beneath.name && $0.0.start == oneMiB })?.1,
              low <= UInt64.max - oneMiB, high == low + oneMiB else {
            throw .memoryMap("block \(beneath.name) is not one mapping from 0 to 1 MiB: "
                + "the RAM beneath the BIOS area cannot be placed")
        }
        return .init(guestPhysicalStart: beneath.start, length: beneath.length, backingOffset: low + beneath.offsetInRegion)
    }
}

private func excerpt(_ line: Substring) -> String {
    String(line.prefix(120).map { $0.isASCII && !$0.isNewline ? $0 : "?" })
}
