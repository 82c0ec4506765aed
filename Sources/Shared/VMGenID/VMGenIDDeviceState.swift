/// Where QEMU's vmgenid device keeps the value, read from QEMU's device
/// state: the stream `xen-save-devices-state` writes (every device's
/// migration state, no RAM). The device's section is
///
///     0x04 (QEMU_VM_SECTION_FULL), section id (4 bytes), 7, "vmgenid",
///     instance (4), version (4), the value's address (8, little-endian),
///     0x7E (QEMU_VM_SECTION_FOOTER), the same section id (4)
///
/// The stream cannot be walked section by section (a section's length is
/// known only to its device), so the section is found by that pattern.
/// Other devices' state can hold bytes a guest chose (buffers, FIFOs), so
/// a guest could plant a lookalike: any second header refuses. The address
/// itself is the guest firmware's (fw_cfg `etc/vmgenid_addr`, which guest
/// root can rewrite): it defeats a `VGIA` pointed at a copy, not a guest
/// that rewrites both; such a guest only keeps itself from being told.
public enum VMGenIDDeviceState {
    static let name = Array("vmgenid".utf8)
    static let headerLength = 1 + 4 + 1 + name.count
    static let sectionLength = headerLength + 4 + 4 + 8 + 1 + 4

    /// The value's guest-physical address, or nil when the device has none
    /// (0: the firmware has not told it, or the guest cleared it).
    /// Every header counts, footer or not, so that a lookalike planted in
    /// another device's state always meets the real section (QEMU leaves
    /// footers out for old machine types): one header, then its footer.
    public static func valueAddress(in stream: [UInt8]) throws(VMGenIDError) -> UInt64? {
        var headers: [Int] = []
        var start = 0
        while stream.count - start >= headerLength, headers.count < 2 {
            defer { start += 1 }
            if stream[start] == 0x04, stream[start + 5] == UInt8(name.count),
               stream[(start + 6)..<(start + headerLength)].elementsEqual(name) {
                headers.append(start)
            }
        }
        guard headers.count == 1, let header = headers.first else {
            throw .deviceState(headers.isEmpty ? "no vmgenid section (is -device vmgenid present?)"
                                               : "more than one section looks like vmgenid's")
        }
        let footer = header + sectionLength - 5
        guard stream.count - header >= sectionLength, stream[footer] == 0x7e,
              stream[(header + 1)..<(header + 5)].elementsEqual(stream[(footer + 1)..<(footer + 5)]) else {
            throw .deviceState("the vmgenid section has no footer to check it by")
        }
        let address = stream[(footer - 8)..<footer].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return address == 0 ? nil : address
    }
}
