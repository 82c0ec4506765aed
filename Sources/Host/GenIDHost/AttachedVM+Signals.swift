import GenerationStore
import QMP
import VMGenID

extension AttachedVM {
    /// Attaches with every signal this QEMU offers: VMGENID always, and
    /// VMClock when QEMU has a vmclock device and its pid is known (the page
    /// is reached through /proc/PID/mem). `notes` says when a vmclock device
    /// is there but cannot be reached. `deviceState`: how QEMU is asked
    /// where its vmgenid device keeps the value.
    public static func withEverySignal(identity: VMIdentity, monitor: any QEMUMonitor, memory: any GuestMemory,
                                       deviceState: QEMUDeviceState, qemuPID: Int32?) async throws -> AttachedVM {
        guard let page = try await VMClockDevice.pageAddress(monitor: monitor) else {
            return AttachedVM(identity: identity, monitor: monitor, memory: memory, deviceState: deviceState)
        }
        guard let qemuPID else {
            return AttachedVM(identity: identity, monitor: monitor, memory: memory, notes: [
                "QEMU has a vmclock device, but its pid is unknown: its VM generation counter is not maintained "
                    + "(give --pid)",
            ], deviceState: deviceState)
        }
        // The page alone, its two ends translated and checked like any RAM range.
        let pageMap = QEMUMemoryMap(ranges: [.init(start: page, length: 4096, type: "ram", name: "vmclock_page",
                                                   offsetInRegion: 0)])
        let devicePages = ProcessMemory(pid: qemuPID,
                                        layout: try await QEMUGuestRAM.processLayout(of: pageMap, monitor: monitor))
        return AttachedVM(identity: identity, monitor: monitor,
                          memory: CombinedGuestMemory([memory, devicePages]),
                          signals: [VMGenIDSignal(), VMClockSignal(pageAddress: page)], deviceState: deviceState)
    }
}
