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
        fields += GuestView.vmclockFields()
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

    /// Where the lab's init has the unprivileged VMClock reader log.
    static let vmclockLogPath = "/run/vmclock/follow.log"

    /// The VMClock reader's log, one JSON object per reading
    /// (`sysgenidctl --json vmclock --follow`); nothing when there is none.
    static func vmclockFields() -> [AgentField] {
        guard let bytes = try? readWholeFile(vmclockLogPath) else { return [] }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n")
        let counters = lines.compactMap { jsonField("vm_generation_counter", in: $0) }
        guard let last = lines.last else { return [] }
        return [AgentField(AgentStatusField.vmclockCounters, counters.joined(separator: ",")),
                AgentField(AgentStatusField.vmclockFlags, jsonField("flags", in: last) ?? ""),
                AgentField(AgentStatusField.vmclockReaderUID, jsonField("uid", in: last) ?? "")]
    }

    /// The value of `"key":` in a flat JSON object of numbers, booleans and
    /// plain strings (what sysgenidctl prints), quotes dropped.
    static func jsonField(_ key: String, in line: Substring) -> String? {
        guard let start = line.firstRange(of: "\"\(key)\":")?.upperBound else { return nil }
        return String(line[start...].prefix { $0 != "," && $0 != "}" }.filter { $0 != "\"" })
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
