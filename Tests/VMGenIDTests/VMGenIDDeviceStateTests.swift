import Foundation
import GuestMemoryFixtures
import Testing
@testable import VMGenID

@Suite struct VMGenIDDeviceStateTests {
    /// `xen-save-devices-state` of QEMU 7.2 (q35, 256 MiB, `-device vmgenid`,
    /// SeaBIOS done): the firmware put the page at 0xffff000, the value at +40.
    static let captured: [UInt8] = {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        return Array(try! Data(contentsOf: directory.appendingPathComponent("QEMUDeviceStates/q35-256m-seabios.state")))
    }()

    /// One vmgenid section: header, the address, footer with the same id.
    static func section(id: UInt32, address: UInt64) -> [UInt8] {
        let idBytes = withUnsafeBytes(of: id.bigEndian, Array.init)
        return [0x04] + idBytes + [7] + Array("vmgenid".utf8) + [0, 0, 0, 0, 0, 0, 0, 1]
            + withUnsafeBytes(of: address.littleEndian, Array.init) + [0x7e] + idBytes
    }

    @Test func qemusOwnStateNamesTheValuesAddress() throws {
        #expect(try VMGenIDDeviceState.valueAddress(in: Self.captured) == 0xffff028)
    }

    /// Another device's state can hold bytes the guest chose: a lookalike
    /// beside the real section refuses rather than picks.
    @Test func aPlantedLookalikeSectionRefuses() {
        let planted = Array(Self.captured.prefix(100)) + Self.section(id: 9, address: 0x10028)
            + Array(Self.captured.dropFirst(100))
        #expect(throws: VMGenIDError.deviceState("more than one section looks like vmgenid's")) {
            try VMGenIDDeviceState.valueAddress(in: planted)
        }
        // Where QEMU writes no footers (old machine types), a lookalike
        // without one still meets the real header.
        let headerOnly = Array(Self.section(id: 9, address: 0x10028).prefix(13))
        #expect(throws: VMGenIDError.deviceState("more than one section looks like vmgenid's")) {
            try VMGenIDDeviceState.valueAddress(in: headerOnly + Self.captured)
        }
    }

    @Test func noSectionOrAFooterThatDoesNotMatchRefuses() {
        for stream in [[], Array(Self.captured.prefix(1000))] {
            #expect(throws: VMGenIDError.deviceState("no vmgenid section (is -device vmgenid present?)")) {
                try VMGenIDDeviceState.valueAddress(in: stream)
            }
        }
        var wrongFooter = Self.section(id: 3, address: 0x10028)
        wrongFooter[wrongFooter.count - 1] = 4
        for stream in [wrongFooter, Array(wrongFooter.dropLast())] {
            #expect(throws: VMGenIDError.deviceState("the vmgenid section has no footer to check it by")) {
                try VMGenIDDeviceState.valueAddress(in: stream)
            }
        }
    }

    /// Before the firmware tells the device, the address is 0: not known.
    @Test func anAddressNotYetGivenIsNil() throws {
        #expect(try VMGenIDDeviceState.valueAddress(in: Self.section(id: 1, address: 0)) == nil)
        #expect(try VMGenIDDeviceState.valueAddress(in: Self.section(id: 1, address: 0x7fff_f028)) == 0x7fff_f028)
    }

    /// A copy of the value elsewhere holds it after a load as the page does;
    /// the signal refuses any region but the one QEMU names.
    @Test func aRegionElsewhereThanQEMUSaysIsRefused() throws {
        let memory = ArrayGuestMemory(size: 0x4000)
        let region = try SignalRegion(signal: "vmgenid", address: 0x1028, length: 16, layout: memory.layout)
        let device = DeviceState(vmgenid: GenerationID(guestBytes: Array(repeating: 0, count: 16)),
                                 vmgenidValueAddress: 0x2028)
        #expect(throws: VMGenIDError.vmgenidElsewhere(tables: 0x1028, qemu: 0x2028)) {
            try VMGenIDSignal().holdsDeviceState(region, in: memory, device: device)
        }
        let right = DeviceState(vmgenid: device.vmgenid, vmgenidValueAddress: 0x1028)
        #expect(try VMGenIDSignal().holdsDeviceState(region, in: memory, device: right))
    }
}
