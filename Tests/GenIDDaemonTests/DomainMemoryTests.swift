import Testing
import VMGenID
@testable import GenIDDaemon

/// genidd's memfd path: which guest-physical range lies where in which
/// memfd, from QEMU's host addresses and the kernel's /proc/PID/maps.
@Suite struct DomainMemoryTests {
    /// Lines of /proc/PID/maps of QEMU 7.2 with two memory-backend-memfd
    /// NUMA nodes of 256 MiB (every memfd has the same name: only the inode tells them apart).
    let maps = """
        7f7627ffe000-7f7637ffe000 rw-s 00000000 00:01 11                         /memfd:memory-backend-memfd (deleted)
        7f7637fff000-7f7647fff000 rw-s 00000000 00:01 10                         /memfd:memory-backend-memfd (deleted)
        7f7647fff000-7f7648000000 ---p 00000000 00:00 0
        7f7648000000-7f7650000000 rw-p 00000000 00:00 0
        7f7650000000-7f7650200000 rw-p 00000000 00:00 0 \u{20}
        55d0c0a00000-55d0c0c00000 r--p 00000000 08:01 1234                       /usr/bin/qemu-system-x86_64
        garbage
        """

    @Test func eachNodeLiesInItsOwnMemfd() {
        let mappings = ProcessMapping.parse(maps)
        #expect(mappings.count == 6)
        #expect(mappings[0] == ProcessMapping(start: 0x7f76_27ff_e000, end: 0x7f76_37ff_e000, shared: true,
                                              fileOffset: 0, deviceMajor: 0, deviceMinor: 1, inode: 11,
                                              path: "/memfd:memory-backend-memfd (deleted)"))
        // Node 0 (inode 10) at 0x7f7637fff000, node 1 (inode 11) at 0x7f7627ffe000, as gpa2hva gave them.
        let host = GuestRAMLayout(regions: [
            .init(guestPhysicalStart: 0, length: 0xc_3000, backingOffset: 0x7f76_37ff_f000),
            .init(guestPhysicalStart: 0x10_0000, length: 0xff0_0000, backingOffset: 0x7f76_380f_f000),
            .init(guestPhysicalStart: 0x1000_0000, length: 0x1000_0000, backingOffset: 0x7f76_27ff_e000),
            .init(guestPhysicalStart: 0xfeff_b000, length: 0x1000, backingOffset: 0x7f76_4800_0000),  // anonymous
        ])
        let parts = DomainMemory.memfdParts(hostLayout: host, mappings: mappings)
        #expect(parts.map(\.inode) == [10, 11])
        #expect(parts[0].layout.regions.map(\.backingOffset) == [0, 0x10_0000])
        #expect(parts[1].layout == GuestRAMLayout(regions: [
            .init(guestPhysicalStart: 0x1000_0000, length: 0x1000_0000, backingOffset: 0),
        ]))
    }

    @Test func aRangeNotWhollyInOneSharedMemfdIsLeftOut() {
        let mappings = ProcessMapping.parse(maps)
        let host = GuestRAMLayout(regions: [
            // Runs 4 KiB past the end of node 1's mapping.
            .init(guestPhysicalStart: 0x1000_0000, length: 0x1000_1000, backingOffset: 0x7f76_27ff_e000),
            // Private memory (a memfd mapped MAP_PRIVATE would be too: the file would not hold what the guest sees).
            .init(guestPhysicalStart: 0, length: 0x1000, backingOffset: 0x7f76_4800_0000),
            // Host addresses near 2^64.
            .init(guestPhysicalStart: 0x2000_0000, length: 0x1000, backingOffset: .max - 0x10),
        ])
        #expect(DomainMemory.memfdParts(hostLayout: host, mappings: mappings).isEmpty)
        #expect(mappings[0].fileOffset(of: 0x7f76_37ff_d000, length: 0x2000) == nil)
        #expect(mappings[0].fileOffset(of: 0x7f76_37ff_d000, length: 0x1000) == 0xfff_f000)
    }
}
