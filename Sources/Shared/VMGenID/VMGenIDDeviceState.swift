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
/// a guest could plant a lookalike: any second match refuses.
public enum VMGenIDDeviceState {
    static let name = Array("vmgenid".utf8)
    static let sectionLength = 1 + 4 + 1 + name.count + 4 + 4 + 8 + 1 + 4

    /// The value's guest-physical address, or nil when the firmware has not
    /// told the device yet (0).
    public static func valueAddress(in stream: [UInt8]) throws(VMGenIDError) -> UInt64? {
        var found: [UInt64] = []
        var start = 0
        while stream.count - start >= sectionLength {
            defer { start += 1 }
            guard stream[start] == 0x04, stream[start + 5] == UInt8(name.count),
                  stream[(start + 6)..<(start + 6 + name.count)].elementsEqual(name) else { continue }
            let afterName = start + 6 + name.count
            let footer = afterName + 16
            guard stream[footer] == 0x7e,
                  stream[(start + 1)..<(start + 5)].elementsEqual(stream[(footer + 1)..<(footer + 5)]) else { continue }
            let address = stream[(afterName + 8)..<footer].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            found.append(address)
        }
        guard found.count == 1, let address = found.first else {
            throw .deviceState(found.isEmpty ? "no vmgenid section (is -device vmgenid present?)"
                                             : "\(found.count) sections look like vmgenid's")
        }
        return address == 0 ? nil : address
    }
}
