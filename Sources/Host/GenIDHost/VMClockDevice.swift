import QMP
import VMGenID

/// QEMU's `-device vmclock` (QEMU >= 10): where its page is, from QEMU's own
/// memory map, and how to reach it.
public enum VMClockDevice {
    /// The guest-physical address of QEMU's `vmclock_page`, or nil when this
    /// QEMU has no vmclock device.
    public static func pageAddress(monitor: any QEMUMonitor) async throws -> UInt64? {
        pageAddress(inMemoryTree: try await monitor.humanMonitorCommand("info mtree -f"))
    }

    /// Parses `info mtree -f` for the line
    /// "00000000feffb000-00000000feffbfff (prio 0, ram): vmclock_page".
    public static func pageAddress(inMemoryTree text: String) -> UInt64? {
        for line in text.split(whereSeparator: \.isNewline) where line.hasSuffix(": vmclock_page") {
            let range = line.trimmingPrefix(while: \.isWhitespace).prefix { $0 != " " }
            let bounds = range.split(separator: "-")
            guard bounds.count == 2, let start = UInt64(bounds[0], radix: 16), let end = UInt64(bounds[1], radix: 16),
                  end > start, end - start + 1 >= 4096 else { continue }
            return start
        }
        return nil
    }
}
