#if canImport(Glibc)
import Glibc
#endif
import AgentProtocol
import VMGenID

/// What this guest sees: its kernel, its VMGENID value, its clocks.
struct GuestView {
    static let acpiTablesPath = "/sys/firmware/acpi/tables"

    /// The VMGENID table does not move while the guest runs, so it is read
    /// once; a failure is retried at the next request.
    private var table: VMGenIDTable?

    mutating func statusFields() -> [AgentField] {
        var fields = [AgentField(AgentStatusField.kernelRelease, GuestView.kernelRelease())]
        do {
            let table = try locateTable()
            let bytes = try PhysicalMemory.read(address: table.valueAddress, count: VMGenIDTable.valueLength)
            let value = GenerationID(guestBytes: bytes)!
            fields.append(AgentField(AgentStatusField.vmgenid, value.description))
            fields.append(AgentField(AgentStatusField.vmgenidAddress, "0x" + String(table.valueAddress, radix: 16)))
        } catch {
            fields.append(AgentField(AgentStatusField.vmgenidError, "\(error)"))
        }
        fields.append(AgentField(AgentStatusField.monotonicNanoseconds, String(GuestView.clock(CLOCK_MONOTONIC))))
        fields.append(AgentField(AgentStatusField.boottimeNanoseconds, String(GuestView.clock(CLOCK_BOOTTIME))))
        return fields
    }

    private mutating func locateTable() throws -> VMGenIDTable {
        if let table { return table }
        let names = try directoryEntries(GuestView.acpiTablesPath).filter { $0.hasPrefix("SSDT") }
        let tables = try names.map { try readWholeFile("\(GuestView.acpiTablesPath)/\($0)") }
        let located = try VMGenIDTable(anyOf: tables)
        table = located
        return located
    }

    static func kernelRelease() -> String {
        var name = utsname()
        uname(&name)
        return withUnsafeBytes(of: name.release) { raw in
            String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
        }
    }

    static func clock(_ id: clockid_t) -> UInt64 {
        var now = timespec()
        clock_gettime(id, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}
