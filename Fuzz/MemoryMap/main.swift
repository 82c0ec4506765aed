// libFuzzer target for QEMUMemoryMap (Sources/Shared/VMGenID): the parser of
// HMP `info mtree -f` and the guest RAM layouts made from it.
//
// Built by Fuzz/run together with Sources/Shared/VMGenID/*.swift into one
// module. The input is the monitor's reply, as UTF-8 (invalid bytes become
// U+FFFD as in any Swift string made from QEMU's output).
//
// Invariants (a violation is a fatalError, which libFuzzer reports as a crash):
//   - parsing never traps, and throws nothing but VMGenIDError.memoryMap;
//   - a parsed map's ranges are in address order, disjoint, non-empty, and
//     none runs past 2^64; guest RAM is only `ram` ranges and `rom` ranges
//     of a region also mapped as `ram`, plus the RAM beneath the BIOS area
//     (exactly 0xE0000-0xFFFFF, only where the view shows no guest RAM);
//   - the file layout of each region holds exactly that region's guest RAM
//     ranges at their @OFFSET; the process layout, from host addresses
//     base + offset (wrapping bases included), either is refused with
//     .memoryMap or holds each range at its first host address;
//   - in either layout, no access crosses the end of a range: the last
//     byte of each range is inside, the byte after it together with it is not.

#if canImport(Glibc)
import Glibc
#endif

func invariantFailure(_ message: String) -> Never {
    fatalError("FUZZ INVARIANT VIOLATED: \(message)")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMemoryMap(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: size > 0 ? data : nil, count: size), as: UTF8.self)
    let map: QEMUMemoryMap
    do {
        map = try QEMUMemoryMap(flatView: text)
    } catch {
        guard case .memoryMap = error else { invariantFailure("parse threw \(error)") }
        return 0
    }
    checkRanges(map)
    let ram = map.guestRAM
    for name in Set(ram.map(\.name)) {
        let layout: GuestRAMLayout
        do {
            layout = try map.fileLayout(region: name)
        } catch {
            invariantFailure("fileLayout(region: \(name)) of a region with guest RAM threw \(error)")
        }
        let expected = ram.filter { $0.name == name }
        guard layout.regions.map(\.guestPhysicalStart) == expected.map(\.start),
              layout.regions.map(\.backingOffset) == expected.map(\.offsetInRegion) else {
            invariantFailure("fileLayout(region: \(name)) = \(layout.regions)")
        }
        checkNoAccessCrossesAnEnd(layout)
    }
    // Host addresses: a base per region name (some near 2^64), plus the offset.
    func base(_ name: String) -> UInt64 { UInt64(truncatingIfNeeded: name.utf8.reduce(5381) { $0 &* 33 &+ Int($1) }) }
    let translated = map.translatedRAM
    let hosts = translated.map { range in
        (first: base(range.name) &+ range.offsetInRegion, last: base(range.name) &+ range.offsetInRegion &+ (range.length - 1))
    }
    let beneath = ram.first(where: \.isBeneathChipset)
    do {
        let layout = try map.processLayout(hostAddresses: hosts)
        let expected = (translated.map(\.start) + (beneath.map { [$0.start] } ?? [])).sorted()
        guard layout.regions.map(\.guestPhysicalStart) == expected,
              layout.regions.filter({ $0.guestPhysicalStart != beneath?.start }).map(\.backingOffset)
                == hosts.map(\.first),
              beneath.map({ b in layout.backingOffset(of: b.start, count: 1) == base(b.name) &+ b.offsetInRegion }) ?? true
        else { invariantFailure("processLayout put ranges elsewhere than their first host address") }
        checkNoAccessCrossesAnEnd(layout)
    } catch {
        guard case .memoryMap = error else { invariantFailure("processLayout threw \(error)") }
        let wraps = zip(translated, hosts).contains { range, host in
            host.first.addingReportingOverflow(range.length - 1).overflow
        } || beneath.map { base($0.name) > UInt64.max - 0x10_0000 } ?? false
        guard wraps else { invariantFailure("processLayout refused consistent host addresses: \(error)") }
    }
    return 0
}

func checkRanges(_ map: QEMUMemoryMap) {
    var previousLast: UInt64?
    for range in map.ranges {
        guard range.length >= 1, !range.start.addingReportingOverflow(range.length - 1).overflow else {
            invariantFailure("range \(range) is empty or runs past 2^64")
        }
        if let previousLast, range.start <= previousLast {
            invariantFailure("range \(range) overlaps or precedes the one before it")
        }
        previousLast = range.last
    }
    let ramNames = Set(map.ranges.filter { $0.type == "ram" }.map(\.name))
    for range in map.guestRAM where !(range.type == "ram" || (range.type == "rom" && ramNames.contains(range.name))) {
        invariantFailure("guestRAM holds \(range)")
    }
    // The RAM beneath the BIOS area: exactly that area, only where the view shows no guest RAM in it.
    for range in map.guestRAM where range.isBeneathChipset {
        guard range.start == QEMUMemoryMap.biosArea.lowerBound, range.last == QEMUMemoryMap.biosArea.upperBound,
              range.offsetInRegion == range.start,
              !map.translatedRAM.contains(where: { $0.start <= range.last && $0.last >= range.start }) else {
            invariantFailure("RAM beneath the BIOS area: \(range)")
        }
    }
}

func checkNoAccessCrossesAnEnd(_ layout: GuestRAMLayout) {
    for region in layout.regions {
        let last = region.guestPhysicalStart + (region.length - 1)
        guard layout.contains(last, count: 1), layout.contains(region.guestPhysicalStart, count: 1) else {
            invariantFailure("the ends of \(region) are not inside the layout")
        }
        guard !layout.contains(last, count: 2) else {
            invariantFailure("an access of 2 bytes at the last byte of \(region) was allowed")
        }
        guard layout.backingOffset(of: region.guestPhysicalStart, count: 1) == region.backingOffset else {
            invariantFailure("the first byte of \(region) is not at its backing offset")
        }
    }
}
