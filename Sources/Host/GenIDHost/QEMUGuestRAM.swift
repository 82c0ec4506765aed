import Foundation
import QMP
import VMGenID

/// Where a running QEMU keeps its guest RAM, asked of QEMU itself: its
/// memory map (`info mtree -f`, parsed by `QEMUMemoryMap`), the host
/// address of each range (`gpa2hva`) and the memory backend behind a shared
/// file (`qom-get`). No machine type or NUMA layout is assumed.
public enum QEMUGuestRAM {
    public static func memoryMap(monitor: any QEMUMonitor) async throws -> QEMUMemoryMap {
        try QEMUMemoryMap(flatView: try await monitor.humanMonitorCommand("info mtree -f"))
    }

    /// Guest RAM in QEMU's address space, for /proc/PID/mem: the host
    /// address of the first and of the last byte of every RAM range QEMU
    /// translates, each of which must be one contiguous mapping
    /// (`QEMUMemoryMap.processLayout`).
    public static func processLayout(of map: QEMUMemoryMap, monitor: any QEMUMonitor) async throws -> GuestRAMLayout {
        var hostAddresses: [(first: UInt64, last: UInt64)] = []
        for range in map.translatedRAM {
            hostAddresses.append((try await hostAddress(of: range.start, monitor: monitor),
                                  try await hostAddress(of: range.last, monitor: monitor)))
        }
        return try map.processLayout(hostAddresses: hostAddresses)
    }

    /// Guest RAM in the shared file at `path`: the file is the RAM block of
    /// exactly one `memory-backend-file` (same device and inode as its
    /// `mem-path`, `share=on` so the file holds what the guest sees), and
    /// each range of that block lies at its offset in the block.
    public static func fileLayout(path: String, map: QEMUMemoryMap, monitor: any QEMUMonitor) async throws
        -> GuestRAMLayout {
        guard let file = fileIdentity(path) else { throw HostError.ramFileUnusable(path: path, reason: "cannot stat it") }
        let objects = try await monitor.execute("qom-list", arguments: ["path": "/objects"])
        guard case .array(let children) = objects else {
            throw HostError.unexpectedReply(command: "qom-list /objects", detail: "\(objects)")
        }
        var backends: [String] = []
        for child in children where child["type"]?.stringValue == "child<memory-backend-file>" {
            guard let id = child["name"]?.stringValue else { continue }
            let memPath = try await monitor.execute("qom-get", arguments: ["path": .string("/objects/\(id)"),
                                                                             "property": "mem-path"])
            if let memPath = memPath.stringValue, let backing = fileIdentity(memPath), backing == file {
                backends.append(id)
            }
        }
        guard backends.count == 1, let backend = backends.first else {
            throw HostError.ramFileUnusable(path: path, reason: backends.isEmpty
                ? "no memory-backend-file of this QEMU has it as mem-path"
                : "several memory backends (\(backends.joined(separator: ", "))) name it")
        }
        let share = try await monitor.execute("qom-get", arguments: ["path": .string("/objects/\(backend)"),
                                                                        "property": "share"])
        guard share.boolValue == true else {
            throw HostError.ramFileUnusable(path: path, reason: "memory backend '\(backend)' is not share=on: "
                + "the file does not hold what the guest sees")
        }
        return try map.fileLayout(region: backend)
    }

    /// Parses "Host virtual address for 0x0 (mem) is 0x7f12a4000000".
    public static func hostAddress(of guestAddress: UInt64, monitor: any QEMUMonitor) async throws -> UInt64 {
        let command = "gpa2hva 0x\(String(guestAddress, radix: 16))"
        let output = try await monitor.humanMonitorCommand(command)
        guard output.hasPrefix("Host virtual address for "), let range = output.range(of: " is 0x"),
              let address = QEMUMemoryMap.hex(output[range.upperBound...].prefix { $0.isHexDigit })
        else { throw HostError.monitorCommandFailed(command: command, output: output) }
        return address
    }

    private static func fileIdentity(_ path: String) -> [UInt64]? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return [UInt64(info.st_dev), UInt64(info.st_ino)]
    }
}
