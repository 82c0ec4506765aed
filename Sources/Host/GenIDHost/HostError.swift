import Foundation
import QMP
import VMGenID

/// What stops the host side, phrased so an operator knows what to do.
public enum HostError: Error, CustomStringConvertible, Sendable {
    case noGuestMemory
    case monitorCommandFailed(command: String, output: String)
    case noSnapshotDisk(output: String)
    case notInIncomingState(status: String)
    case migrationFailed(status: String, detail: String)
    case timeout(what: String, seconds: Double)
    case signalNotInPlace(signal: String, region: String, device: String)
    case unexpectedReply(command: String, detail: String)
    case rotationFailed(event: String, source: String, reason: String, runState: String)
    case ramFileUnusable(path: String, reason: String)

    public var description: String {
        switch self {
        case .noGuestMemory:
            return "no access to guest RAM: give the shared RAM file (--ram-file, QEMU's memory-backend-file mem-path) "
                + "or QEMU's pid (--pid, for /proc/PID/mem)"
        case let .monitorCommandFailed(command, output):
            return "QEMU refused '\(command)': \(output.trimmingCharacters(in: .whitespacesAndNewlines))"
        case let .noSnapshotDisk(output):
            return "this VM cannot take internal snapshots (\(output.trimmingCharacters(in: .whitespacesAndNewlines))); "
                + "it needs a writable qcow2 disk. Use 'save'/'restore' with a file instead."
        case let .notInIncomingState(status):
            return "QEMU is '\(status)', not waiting for an incoming migration: start it with '-incoming defer' to restore into it"
        case let .migrationFailed(status, detail):
            return "migration ended in state '\(status)'\(detail.isEmpty ? "" : ": \(detail)")"
        case let .timeout(what, seconds):
            return "\(what) did not finish within \(seconds) s"
        case let .signalNotInPlace(signal, region, device):
            return "after the state load, the \(signal) region at \(region) does not hold what the device put there "
                + "(\(device)): the device is not where the guest's ACPI tables say; refusing to write"
        case let .ramFileUnusable(path, reason):
            return "cannot use \(path) as this QEMU's guest RAM: \(reason)"
        case let .unexpectedReply(command, detail):
            return "unexpected reply to '\(command)': \(detail)"
        case let .rotationFailed(event, source, reason, runState):
            return "\(event) '\(source)' failed: \(reason). The VM is \(runState) and was not resumed, so that the "
                + "guest cannot run on a stale value; fix the cause and retry, or resume it with QMP 'cont' "
                + "if you know its state is intact."
        }
    }
}
