/// Everything that can go wrong locating, reading or writing a VMGENID
/// value. The ACPI tables are written by the guest, so malformed ones are an
/// ordinary, reportable outcome, never a crash and never a stray write.
public enum VMGenIDError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncated(what: String, needed: Int, available: Int)
    case badLength(signature: String, claimed: UInt32, available: Int)
    case badChecksum(signature: String)
    case notVMGenIDTable(oemTableID: String)
    case vgiaNotFound
    case vgiaAmbiguous(count: Int)
    case vgiaNotPatched
    case noVMGenIDTable(searched: Int)
    case rsdpNotFound
    case tooManyTables(count: Int)
    case outsideGuestRAM(what: String, address: UInt64, count: Int)
    case system(call: String, path: String, errno: Int32, message: String)
    case verifyFailed(slot: UInt64, wrote: GenerationID, read: [UInt8])
    case signalVerifyFailed(signal: String, address: UInt64, detail: String)
    case noVMClockDevice(searched: Int)
    case vmclockResourceMissing
    case vmclockElsewhere(tables: UInt64, qemu: UInt64)
    /// QEMU's memory map (`info mtree -f`, `gpa2hva`) cannot be trusted to say where guest RAM is.
    case memoryMap(String)
    /// The guest's tables name another place for the value than QEMU's vmgenid device keeps.
    case vmgenidElsewhere(tables: UInt64, qemu: UInt64)
    /// QEMU's device state does not say where its vmgenid device keeps the value.
    case deviceState(String)

    public var description: String {
        switch self {
        case let .truncated(what, needed, available):
            return "ACPI \(what) is truncated: needs \(needed) bytes, only \(available) available"
        case let .badLength(signature, claimed, available):
            return "ACPI table \(signature) claims \(claimed) bytes but \(available) are available (or fewer than a header)"
        case let .badChecksum(signature):
            return "ACPI table \(signature) has a bad checksum"
        case let .notVMGenIDTable(oemTableID):
            return "SSDT with OEM table id '\(oemTableID)' is not the VMGENID table"
        case .vgiaNotFound:
            return "the VMGENID SSDT declares no DWORD named VGIA"
        case let .vgiaAmbiguous(count):
            return "the VMGENID SSDT declares VGIA \(count) times; refusing to guess"
        case .vgiaNotPatched:
            return "VGIA is 0: the guest firmware has not written the VMGENID page address yet"
        case let .noVMGenIDTable(searched):
            return "none of the \(searched) SSDT tables has OEM table id VMGENID (is -device vmgenid present?)"
        case .rsdpNotFound:
            return "no valid ACPI RSDP in guest RAM (0xE0000-0xFFFFF, EBDA): has the guest firmware run yet?"
        case let .tooManyTables(count):
            return "the guest's root ACPI table lists \(count) tables; refusing to walk that many"
        case let .outsideGuestRAM(what, address, count):
            return "\(what) at 0x\(String(address, radix: 16)) (\(count) bytes) is not inside guest RAM; refusing to touch it"
        case let .system(call, path, errno, message):
            return "\(call) \(path): \(message) (errno \(errno))"
        case let .verifyFailed(slot, wrote, read):
            return "wrote \(wrote) at 0x\(String(slot, radix: 16)) but read back "
                + (GenerationID(guestBytes: read)?.description ?? "\(read)")
        case let .noVMClockDevice(searched):
            return "none of the \(searched) SSDT tables declares the VMClock device (OEM table id VMCLOCK, _HID AMZNC10C)"
        case .vmclockResourceMissing:
            return "the VMClock device in the guest's SSDT declares no QWord memory range"
        case let .vmclockElsewhere(tables, qemu):
            return "the guest's tables put the VMClock page at 0x\(String(tables, radix: 16)), QEMU's memory map at "
                + "0x\(String(qemu, radix: 16)); refusing to write either"
        case let .memoryMap(reason):
            return "QEMU's memory map: \(reason); refusing to guess where guest RAM is"
        case let .vmgenidElsewhere(tables, qemu):
            return "the guest's tables put the VMGENID value at 0x\(String(tables, radix: 16)), QEMU's vmgenid device "
                + "keeps it at 0x\(String(qemu, radix: 16)); refusing to write either"
        case let .deviceState(reason):
            return "QEMU's device state: \(reason); refusing to guess where the VMGENID value is"
        case let .signalVerifyFailed(signal, address, detail):
            return "\(signal) at 0x\(String(address, radix: 16)) does not read back as written: \(detail)"
        }
    }
}
