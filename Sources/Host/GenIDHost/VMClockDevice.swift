import QMP
import VMGenID

/// QEMU's `-device vmclock` (QEMU >= 10): where its page is, from QEMU's own
/// memory map, and how to reach it.
public enum VMClockDevice {
    /// The guest-physical address of QEMU's `vmclock_page`, or nil when this
    /// QEMU has no vmclock device.
    public static func pageAddress(monitor: any QEMUMonitor) async throws -> UInt64? {
        pageAddress(in: try await QEMUGuestRAM.memoryMap(monitor: monitor))
    }

    /// The RAM range "vmclock_page" of the map, if it holds a whole page:
    /// "00000000feffb000-00000000feffbfff (prio 0, ram): vmclock_page".
    public static func pageAddress(in map: QEMUMemoryMap) -> UInt64? {
        guard let range = map.ramRange(named: "vmclock_page"), range.length >= 4096 else { return nil }
        return range.start
    }
}
