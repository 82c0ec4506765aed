import Foundation
import QMP
import VMGenID

/// What QEMU's own devices say, for what the guest's tables claim. The
/// tables are the guest's: it can point `VGIA` at a copy of the value
/// elsewhere in its RAM, which a state load leaves holding the device's
/// value just as the device's page. QEMU has no property for the page's
/// address, but its device state holds it (`VMGenIDDeviceState`).
public enum QEMUDeviceState: Sendable, Equatable {
    /// Not asked: the tables alone say where the value is (monitors that
    /// are not a real QEMU, in tests).
    case notAsked
    /// QEMU writes into this directory (a libvirt domain's own directory).
    case directory(String)
    /// QEMU writes into a directory made for the purpose and removed after
    /// (a QEMU running as root, as `genidctl qemu` drives it).
    case temporaryDirectory

    /// The address, per this choice; nil only when not asked. A device
    /// with no address refuses: the tables could then not be checked.
    func vmgenidValueAddress(monitor: any QEMUMonitor) async throws -> UInt64? {
        switch self {
        case .notAsked:
            return nil
        case .directory(let directory):
            return try await Self.vmgenidValueAddress(monitor: monitor, directory: directory)
        case .temporaryDirectory:
            // /tmp, not $TMPDIR: a sticky directory, where no other user can move ours.
            var template = Array("/tmp/genid-XXXXXX".utf8CString)
            guard let made = mkdtemp(&template) else {
                throw HostError.monitorCommandFailed(command: "xen-save-devices-state",
                                                     output: "cannot make a directory: errno \(errno)")
            }
            let directory = String(cString: made)
            defer { rmdir(directory) }
            return try await Self.vmgenidValueAddress(monitor: monitor, directory: directory)
        }
    }

    /// Asks QEMU (paused) to write its device state into `directory`, a
    /// directory it can write and only root and it can; reads and removes
    /// the file.
    public static func vmgenidValueAddress(monitor: any QEMUMonitor, directory: String) async throws -> UInt64 {
        let path = "\(directory)/genid-device-state-\(UUID().uuidString.lowercased())"
        // The file holds the guest's CPU and device state: it must not stay.
        defer { unlink(path) }
        _ = try await monitor.execute("xen-save-devices-state", arguments: ["filename": .string(path), "live": false])
        // A few tens of KiB; QEMU could write more, or put anything there.
        guard let address = try VMGenIDDeviceState.valueAddress(
            in: try WholeFile.read(path, limit: 16 << 20, regularOnly: true)) else {
            throw VMGenIDError.deviceState("the vmgenid device has no address (the guest's firmware gave none, "
                + "or the guest cleared it)")
        }
        guard unlink(path) == 0 || errno == ENOENT else {
            throw HostError.monitorCommandFailed(command: "xen-save-devices-state",
                                                 output: "cannot remove \(path): errno \(errno)")
        }
        return address
    }
}
