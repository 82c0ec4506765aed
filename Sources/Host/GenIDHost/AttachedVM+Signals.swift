import GenerationStore
import QMP
import VMGenID

extension AttachedVM {
    /// Attaches with every signal this QEMU offers: VMGENID always, and
    /// VMClock when QEMU has a vmclock device and its pid is known (the page
    /// is reached through /proc/PID/mem). `notes` says when a vmclock device
    /// is there but cannot be reached.
    public static func withEverySignal(identity: VMIdentity, monitor: any QEMUMonitor, memory: any GuestMemory,
                                       qemuPID: Int32?) async throws -> AttachedVM {
        guard let page = try await VMClockDevice.pageAddress(monitor: monitor) else {
            return AttachedVM(identity: identity, monitor: monitor, memory: memory)
        }
        guard let qemuPID else {
            return AttachedVM(identity: identity, monitor: monitor, memory: memory, notes: [
                "QEMU has a vmclock device, but its pid is unknown: its VM generation counter is not maintained "
                    + "(give --pid)",
            ])
        }
        let hostAddress = try await GuestMemorySource.hostAddress(of: page, qmp: monitor)
        let devicePages = ProcessMemory(pid: qemuPID, layout: GuestRAMLayout(regions: [
            .init(guestPhysicalStart: page, length: 4096, backingOffset: hostAddress),
        ]))
        return AttachedVM(identity: identity, monitor: monitor,
                          memory: GuestMemoryWithDevicePages(ram: memory, devicePages: devicePages),
                          signals: [VMGenIDSignal(), VMClockSignal(pageAddress: page)])
    }
}
