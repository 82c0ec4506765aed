import Foundation
import VMGenID

/// One line of /proc/PID/maps: "START-END PERMS OFFSET MAJ:MIN INODE PATH".
struct ProcessMapping: Equatable {
    let start: UInt64
    /// One past the last byte.
    let end: UInt64
    /// MAP_SHARED ('s'): writes reach the file, and the file holds what the process sees.
    let shared: Bool
    let fileOffset: UInt64
    let deviceMajor: UInt64
    let deviceMinor: UInt64
    let inode: UInt64
    let path: String

    /// The lines of `text` in this form; any other line is left out.
    static func parse(_ text: String) -> [ProcessMapping] {
        text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count >= 5 else { return nil }
            let bounds = fields[0].split(separator: "-"), device = fields[3].split(separator: ":")
            guard bounds.count == 2, device.count == 2, fields[1].count == 4,
                  let start = QEMUMemoryMap.hex(bounds[0]), let end = QEMUMemoryMap.hex(bounds[1]), end > start,
                  let offset = QEMUMemoryMap.hex(fields[2]),
                  let major = QEMUMemoryMap.hex(device[0]), let minor = QEMUMemoryMap.hex(device[1]),
                  let inode = UInt64(fields[4]) else { return nil }
            let path = fields.count > 5 ? String(fields[5].trimmingPrefix(while: \.isWhitespace)) : ""
            return ProcessMapping(start: start, end: end, shared: fields[1].last == "s", fileOffset: offset,
                                  deviceMajor: major, deviceMinor: minor, inode: inode, path: path)
        }
    }

    /// Where `length` bytes at host address `address` lie in the mapped
    /// file, if the mapping holds all of them (subtractions only).
    func fileOffset(of address: UInt64, length: UInt64) -> UInt64? {
        guard address >= start, address - start < end - start, length <= end - address else { return nil }
        let (offset, overflow) = fileOffset.addingReportingOverflow(address - start)
        return overflow ? nil : offset
    }
}
