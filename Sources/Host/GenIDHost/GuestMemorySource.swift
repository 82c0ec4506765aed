import Foundation
import QMP
import VMGenID

/// How the host reaches a QEMU guest's RAM.
public enum GuestMemorySource: Sendable, Equatable {
    /// The file behind `-object memory-backend-file,share=on,mem-path=FILE`.
    case sharedFile(String)
    /// `/proc/PID/mem` of the QEMU process, with host addresses from HMP `gpa2hva`.
    case qemuProcess(pid: Int32)

    /// Opens the memory, asking QEMU what it needs to know (RAM size and,
    /// for /proc/PID/mem, where guest RAM sits in QEMU's address space).
    public func open(using qmp: any QEMUMonitor) async throws -> any GuestMemory {
        switch self {
        case .sharedFile(let path):
            return try MappedRAMFile(path: path)
        case .qemuProcess(let pid):
            let summary = try await qmp.execute("query-memory-size-summary")
            guard let ramSize = summary["base-memory"]?.intValue, ramSize > 0 else {
                throw HostError.unexpectedReply(command: "query-memory-size-summary", detail: "\(summary)")
            }
            let q35 = GuestRAMLayout.q35(ramSize: UInt64(ramSize))
            var regions: [GuestRAMLayout.Region] = []
            for region in q35.regions {
                let hostAddress = try await GuestMemorySource.hostAddress(of: region.guestPhysicalStart, qmp: qmp)
                regions.append(.init(guestPhysicalStart: region.guestPhysicalStart, length: region.length,
                                     backingOffset: hostAddress))
            }
            return ProcessMemory(pid: pid, layout: GuestRAMLayout(regions: regions))
        }
    }

    /// Parses "Host virtual address for 0x0 (mem) is 0x7f12a4000000".
    static func hostAddress(of guestAddress: UInt64, qmp: any QEMUMonitor) async throws -> UInt64 {
        let command = "gpa2hva 0x\(String(guestAddress, radix: 16))"
        let output = try await qmp.humanMonitorCommand(command)
        guard let range = output.range(of: " is 0x"),
              let address = UInt64(output[range.upperBound...].prefix { $0.isHexDigit }, radix: 16)
        else { throw HostError.monitorCommandFailed(command: command, output: output) }
        return address
    }
}
