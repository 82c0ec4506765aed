import Foundation
import VMGenID

/// A running QEMU process, told apart from a later process with the same
/// pid by its start time (field 22 of /proc/PID/stat, clock ticks since boot).
struct QEMUProcess: Hashable {
    let pid: Int32
    let startTicks: UInt64

    static func of(pid: Int32) -> QEMUProcess? {
        guard let stat = try? WholeFile.text("/proc/\(pid)/stat"),
              // After the parenthesised name (which may hold spaces): field 3 onwards.
              let fields = stat.split(separator: ")").last?.split(separator: " "), fields.count > 19,
              let ticks = UInt64(fields[19]) else { return nil }
        return QEMUProcess(pid: pid, startTicks: ticks)
    }

    /// When it started, in wall-clock time.
    var started: Date? {
        // /proc/stat: "btime" follows a line per CPU, past the first page on a large host.
        guard let boot = try? WholeFile.text("/proc/stat"),
              let btime = boot.split(separator: "\n").first(where: { $0.hasPrefix("btime ") })
                .flatMap({ Double($0.dropFirst(6)) }) else { return nil }
        return Date(timeIntervalSince1970: btime + Double(startTicks) / Double(sysconf(Int32(_SC_CLK_TCK))))
    }
}
