import Foundation
import Testing
@testable import VMGenID

/// QEMU 7.2's `info mtree -f` of running machines (SeaBIOS done), captured
/// in Tests/QEMUMemoryMaps; each machine is named by its command line there.
enum CapturedMemoryMap {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("QEMUMemoryMaps").path

    static func text(_ name: String) throws -> String {
        try String(contentsOfFile: "\(directory)/\(name).txt", encoding: .utf8)
    }

    static func map(_ name: String) throws -> QEMUMemoryMap {
        try QEMUMemoryMap(flatView: text(name))
    }
}

@Suite struct QEMUMemoryMapTests {
    typealias Region = GuestRAMLayout.Region

    /// Guest RAM of one block, as (start, last, offset) triples.
    func ram(_ map: QEMUMemoryMap, _ block: String) throws -> [[UInt64]] {
        try map.fileLayout(region: block).regions.map {
            [$0.guestPhysicalStart, $0.guestPhysicalStart + $0.length - 1, $0.backingOffset]
        }
    }

    /// The first MiB as SeaBIOS leaves it: RAM, and read-only RAM (PAM) where
    /// the option ROMs and the F-segment with the RSDP are.
    func firstMiB(_ last: UInt64) -> [[UInt64]] {
        [[0, 0xc_2fff, 0], [0xc_3000, 0xe_7fff, 0xc_3000], [0xe_8000, 0xe_ffff, 0xe_8000],
         [0xf_0000, 0xf_ffff, 0xf_0000], [0x10_0000, last, 0x10_0000]]
    }

    @Test func q35Default() throws {
        let map = try CapturedMemoryMap.map("q35-default")
        #expect(try ram(map, "pc.ram") == firstMiB(0x7ff_ffff))
        #expect(map.guestRAM.map(\.name) == Array(repeating: "pc.ram", count: 5), "pc.bios is not guest RAM")
        #expect(map.ranges.contains { $0.name == "pc.bios" && $0.type == "rom" })
    }

    @Test func q35With3GiBKeeps2GiBBelow4GiB() throws {
        let map = try CapturedMemoryMap.map("q35-3g")
        #expect(try ram(map, "pc.ram") == firstMiB(0x7fff_ffff) + [[0x1_0000_0000, 0x1_3fff_ffff, 0x8000_0000]])
    }

    @Test func pcWith3584MiBKeeps3GiBBelow4GiB() throws {
        let map = try CapturedMemoryMap.map("pc-3584m")
        #expect(try ram(map, "pc.ram") == firstMiB(0xbfff_ffff) + [[0x1_0000_0000, 0x1_1fff_ffff, 0xc000_0000]])
    }

    @Test(arguments: ["q35-numa-ram", "q35-numa-memfd"])
    func twoNUMANodesAreTwoBlocks(_ name: String) throws {
        let map = try CapturedMemoryMap.map(name)
        #expect(try ram(map, "ram-node0") == firstMiB(0xfff_ffff))
        #expect(try ram(map, "ram-node1") == [[0x1000_0000, 0x1fff_ffff, 0]])
        // The firmware's ACPI tables in the reproduction: offset 0xffe0000 of node 1, not of node 0.
        #expect(try map.fileLayout(region: "ram-node1").backingOffset(of: 0x1ffe_0000, count: 16) == 0xffe_0000)
        #expect(throws: VMGenIDError.memoryMap("memory region 'pc.ram' holds no guest RAM")) {
            try map.fileLayout(region: "pc.ram")
        }
    }

    @Test func carriageReturnsAsQMPSendsThem() throws {
        let text = try CapturedMemoryMap.text("pc-3584m")
        #expect(try QEMUMemoryMap(flatView: text.replacingOccurrences(of: "\n", with: "\r\n"))
                == QEMUMemoryMap(flatView: text))
    }

    /// Under KVM, QEMU's flat view names the accelerator after every range
    /// KVM holds a memory slot for (`mtree_print_flatview`: " %s" of the
    /// accelerator's name, once per address space that has the range).
    /// No machine here has KVM, so the text is the TCG capture with that
    /// suffix added as QEMU adds it.
    @Test func theAcceleratorsNameAfterARangeIsNotPartOfIt() throws {
        let text = try CapturedMemoryMap.text("pc-3584m")
        let underKVM = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.contains("(prio ") && (line.contains(", ram)") || line.contains(", rom)")) ? line + " KVM" : line
        }.joined(separator: "\n")
        #expect(underKVM != text)
        #expect(try QEMUMemoryMap(flatView: underKVM) == QEMUMemoryMap(flatView: text))
        let twice = QEMUMemoryMap.range(parsing: "0000000000100000-00000000bfffffff (prio 0, ram): pc.ram @0000000000100000 KVM KVM")
        #expect(twice?.name == "pc.ram" && twice?.offsetInRegion == 0x10_0000)
        // A name that merely ends in capitals is still the name.
        #expect(QEMUMemoryMap.range(parsing: "00000000fe000000-00000000fe003fff (prio 1, i/o): virtio-pci-common BAR")?.name
                == "virtio-pci-common BAR")
    }

    /// Host addresses as `gpa2hva` would give them: each block at its own
    /// base, each range at base + its offset in the block.
    func hostAddresses(_ map: QEMUMemoryMap, bases: [String: UInt64]) -> [(first: UInt64, last: UInt64)] {
        map.translatedRAM.map { range in
            let first = bases[range.name]! + range.offsetInRegion
            return (first, first + range.length - 1)
        }
    }

    /// At reset (and before an incoming state loads) the chipset shows the
    /// BIOS image at 0xE0000-0xFFFFF; the RAM beneath is what a loaded or
    /// booted guest has there, so it is guest RAM at its block's offset.
    @Test func aMapTakenAtResetHasTheRAMBeneathTheBIOSArea() throws {
        let map = try CapturedMemoryMap.map("pc-3584m-reset")
        #expect(map.ranges.contains { $0.start == 0xe_0000 && $0.name == "pc.bios" })
        #expect(try ram(map, "pc.ram") == [[0, 0xb_ffff, 0], [0xe_0000, 0xf_ffff, 0xe_0000],
                                           [0x10_0000, 0xbfff_ffff, 0x10_0000],
                                           [0x1_0000_0000, 0x1_1fff_ffff, 0xc000_0000]])
        #expect(map.translatedRAM.count == 3, "gpa2hva of the BIOS area would give the BIOS image")
        let layout = try map.processLayout(hostAddresses: hostAddresses(map, bases: ["pc.ram": 0x7f00_0000_0000]))
        #expect(layout.backingOffset(of: 0xf_5a00, count: 36) == 0x7f00_000f_5a00)
        #expect(!layout.contains(0xd_fff0, count: 16), "pc.rom is not RAM")
        #expect(!layout.contains(0xf_fff8, count: 16), "no access crosses from the BIOS area into 1 MiB")
    }

    /// The RAM beneath is placed from its block's host addresses at 0 and at
    /// 1 MiB; if those are not one mapping, the map is refused.
    @Test func theRAMBeneathTheBIOSAreaNeedsOneMappingFrom0To1MiB() throws {
        let map = try CapturedMemoryMap.map("pc-3584m-reset")
        var addresses = hostAddresses(map, bases: ["pc.ram": 0x7f00_0000_0000])
        addresses[1] = (addresses[1].first + 0x1000, addresses[1].last + 0x1000)
        #expect(throws: VMGenIDError.memoryMap("block pc.ram is not one mapping from 0 to 1 MiB: "
                + "the RAM beneath the BIOS area cannot be placed")) {
            try map.processLayout(hostAddresses: addresses)
        }
    }

    /// Once the firmware (or a loaded state) shows RAM there, the view is used as it is.
    @Test func aBootedMapNeedsNothingBeneath() throws {
        let map = try CapturedMemoryMap.map("pc-3584m")
        #expect(!map.guestRAM.contains { $0.isBeneathChipset })
        #expect(map.translatedRAM == map.guestRAM)
    }

    @Test func numaTranslatesEachNodeThroughItsOwnBlock() throws {
        let map = try CapturedMemoryMap.map("q35-numa-ram")
        let layout = try map.processLayout(hostAddresses: hostAddresses(map, bases: [
            "ram-node0": 0x7f00_0000_0000, "ram-node1": 0x7f80_0000_0000,
        ]))
        #expect(layout.backingOffset(of: 0x1ffe_0000, count: 36) == 0x7f80_0ffe_0000)
        #expect(layout.backingOffset(of: 0x0fff_f000, count: 16) == 0x7f00_0fff_f000)
    }

    @Test func accessesOutsideOneRangeAreRefused() throws {
        let numa = try CapturedMemoryMap.map("q35-numa-ram")
        let q35 = try CapturedMemoryMap.map("q35-3g")
        let cases: [(QEMUMemoryMap, UInt64, Int, String)] = [
            (numa, 0x0fff_fff8, 16, "crosses the end of node 0's block into node 1's"),
            (numa, 0x1fff_fff8, 16, "crosses the end of the last block"),
            (numa, 0xe_fff8, 16, "crosses from RAM into the read-only F-segment"),
            (q35, 0x7fff_fff8, 16, "crosses the end of RAM below 4 GiB"),
            (q35, 0xfec0_0000, 16, "lies in the PCI hole (ioapic)"),
            (q35, 0xffff_fff8, 16, "crosses 4 GiB from the BIOS ROM"),
            (q35, 0xffff_fff8, 0x10, "crosses 4 GiB from the BIOS ROM"),
            (q35, 0xffff_0000, 4, "lies in the BIOS ROM, not guest RAM"),
            (q35, 0x1_4000_0000, 1, "lies above the last block"),
            (q35, .max - 7, 16, "wraps past 2^64"),
        ]
        for (map, address, count, why) in cases {
            let layout = try map.processLayout(hostAddresses: hostAddresses(map, bases: [
                "pc.ram": 0x7f00_0000_0000, "ram-node0": 0x7f00_0000_0000, "ram-node1": 0x7f80_0000_0000,
            ]))
            let memory = ProcessMemory(pid: getpid(), layout: layout)
            #expect(throws: VMGenIDError.outsideGuestRAM(what: "read", address: address, count: count),
                    "\(String(address, radix: 16)) \(why)") {
                try memory.read(at: address, count: count)
            }
        }
    }

    @Test func gpa2hvaEndsThatDisagreeAreRefused() throws {
        let map = try CapturedMemoryMap.map("q35-numa-ram")
        var addresses = hostAddresses(map, bases: ["ram-node0": 0x7f00_0000_0000, "ram-node1": 0x7f80_0000_0000])
        // Node 1's last byte somewhere else: not one mapping (a block split, or QEMU's answer garbled).
        addresses[5].last += 0x1000
        #expect(throws: VMGenIDError.memoryMap("range 0x10000000-0x1fffffff (ram-node1) starts at host "
                + "0x7f8000000000 but ends at host 0x7f8010000fff, not 0x7f800fffffff")) {
            try map.processLayout(hostAddresses: addresses)
        }
        // A start so high that the end would wrap.
        addresses[5] = (.max - 0x1000, .max)
        #expect(throws: VMGenIDError.self) { try map.processLayout(hostAddresses: addresses) }
        #expect(throws: VMGenIDError.memoryMap("5 host addresses for 6 RAM ranges")) {
            try map.processLayout(hostAddresses: Array(addresses.prefix(5)))
        }
    }

    @Test(arguments: [
        "  0000000000000000-000000001fffffff (prio 0, ram) pc.ram",            // no colon
        "  0000000000000000-000000001fffffff (prio 0, ram): ",                 // no name
        "  000000001fffffff-0000000000000000 (prio 0, ram): pc.ram",           // end before start
        "  0000000000000000-ffffffffffffffff (prio 0, ram): pc.ram",           // 2^64 bytes
        "  00000000000000000-000000001fffffff (prio 0, ram): pc.ram",          // 17 digits
        "  0x0-0x1fffffff (prio 0, ram): pc.ram",
        "  0000000000000000-000000001fffffff (prio x, ram): pc.ram",
        "  0000000000000000-000000001fffffff (prio 0, ram, rom): pc.ram",
        "  0000000000000000-000000001fffffff (prio 0, ra m): pc.ram",
        "  0000000000000000-000000001fffffff (prio 0, ram): pc.ram @00000000000zz000",
        "  0000000000000000-000000001fffffff (prio 0, ram): pc.ram @1000",
        "  0000000000000000-000000001fffffff (prio 0, ram):  pc.ram",
        "  0000000000000000-000000001fffffff",
        "  \u{0}\u{7f}-\u{ff}(prio",
        "  AS \"memory\", root: system",                                      // a header among the ranges
        "  0000000000000000-000000000000ffff (prio 0, ram): pc.ram",           // overlaps the one before
    ])
    func garbledLinesRefuseTheWholeMap(_ line: String) {
        let text = " AS \"memory\", root: system\n Root memory region: system\n"
            + "  0000000000000000-000000000009ffff (prio 0, ram): pc.ram\n\(line)\n"
            + "  0000000100000000-000000011fffffff (prio 0, ram): pc.ram @00000000c0000000\n"
        #expect(throws: VMGenIDError.self, "\(line)") { try QEMUMemoryMap(flatView: text) }
    }

    @Test func aMapWithoutAddressSpaceMemoryIsRefused() throws {
        let io = try CapturedMemoryMap.text("q35-default").replacingOccurrences(of: "AS \"memory\"", with: "AS \"other\"")
        #expect(throws: VMGenIDError.memoryMap("no flat view of address space \"memory\"")) {
            try QEMUMemoryMap(flatView: io)
        }
        #expect(throws: VMGenIDError.memoryMap("no flat view of address space \"memory\"")) {
            try QEMUMemoryMap(flatView: "unknown command: 'info'\r\n")
        }
    }

    @Test func romOfABlockNeverMappedAsRAMIsNotGuestRAM() throws {
        let map = try QEMUMemoryMap(flatView: """
             AS "memory", root: system
              0000000000000000-000000000009ffff (prio 0, ram): pc.ram
              00000000000c0000-00000000000dffff (prio 1, rom): pc.rom
              00000000000f0000-00000000000fffff (prio 0, rom): pc.ram @00000000000f0000
              00000000fd000000-00000000fdffffff (prio 1, ramd): 0000:00:02.0 BAR 0 mmaps[0]
              00000000fe000000-00000000fe00ffff (prio 1, romd): system.flash0
              00000000ff000000-00000000ff00ffff (prio 1, nv-ram): nvdimm
            """)
        #expect(map.ranges.count == 6)
        #expect(map.guestRAM.map(\.start) == [0, 0xf_0000])
        #expect(map.ranges[3].name == "0000:00:02.0 BAR 0 mmaps[0]")
    }
}
