import QMP
import VMGenID

/// How the host reaches a QEMU guest's RAM.
public enum GuestMemorySource: Sendable, Equatable {
    /// The file behind `-object memory-backend-file,share=on,mem-path=FILE`.
    case sharedFile(String)
    /// `/proc/PID/mem` of the QEMU process, with host addresses from HMP `gpa2hva`.
    case qemuProcess(pid: Int32)

    /// Opens the memory with the layout QEMU's own memory map gives
    /// (`QEMUGuestRAM`): every access must lie wholly inside one range of
    /// one RAM block.
    public func open(using monitor: any QEMUMonitor) async throws -> any GuestMemory {
        let map = try await QEMUGuestRAM.memoryMap(monitor: monitor)
        switch self {
        case .sharedFile(let path):
            return try MappedRAMFile(path: path,
                                     layout: try await QEMUGuestRAM.fileLayout(path: path, map: map, monitor: monitor))
        case .qemuProcess(let pid):
            return ProcessMemory(pid: pid, layout: try await QEMUGuestRAM.processLayout(of: map, monitor: monitor))
        }
    }
}
