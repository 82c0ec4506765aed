#if canImport(Glibc)
import Glibc
#endif
import AgentProtocol
import SysGenID

/// The `system` verb: the guest system around the agent, for guests with a
/// real init (the lab's Debian guest): systemd's state, units, and how the
/// sysgenid module and device got there (DKMS, udev).
enum SystemView {
    static let systemctl = "/usr/bin/systemctl"

    static func fields(units: [String]) -> [AgentField] {
        var fields: [AgentField] = []
        let initName = (try? readWholeFile("/proc/1/comm")).map { String(decoding: $0, as: UTF8.self).trimmingNewline() }
        fields.append(AgentField(AgentSystemField.initName, initName ?? "unknown"))
        if initName == "systemd" && access(systemctl, X_OK) == 0 {
            // Both exit non-zero for "degraded" or "inactive": the output is the answer.
            if let (_, output) = runCapturingOutput([systemctl, "is-system-running"], timeoutSeconds: 10) {
                fields.append(AgentField(AgentSystemField.systemState, output.trimmingNewline()))
            }
            if let (_, output) = runCapturingOutput([systemctl, "list-units", "--state=failed", "--plain",
                                                     "--no-legend", "--no-pager"], timeoutSeconds: 10) {
                let names = output.split(separator: "\n").compactMap { $0.split(separator: " ").first }
                fields.append(AgentField(AgentSystemField.failedUnits, names.joined(separator: ",")))
            }
            if !units.isEmpty, let (_, output) = runCapturingOutput([systemctl] + AgentSystemField.isActiveArguments(units),
                                                                 timeoutSeconds: 10) {
                let states = output.split(separator: "\n").map(String.init)
                for (unit, state) in zip(units, states) { fields.append(AgentField(AgentSystemField.unit(unit), state)) }
            }
        }
        if access("/sys/module/sysgenid", F_OK) == 0, let file = moduleFile("sysgenid") {
            fields.append(AgentField(AgentSystemField.sysgenidModuleFile, file))
        }
        var info = stat()
        if stat(SysGenIDProvider.defaultDevicePath, &info) == 0 {
            fields.append(AgentField(AgentSystemField.sysgenidDeviceMode, String(info.st_mode & 0o7777, radix: 8)))
        }
        return fields
    }

    /// Where modules.dep puts module `name` for the running kernel (the
    /// file modprobe loaded), relative to /lib/modules/<release>.
    static func moduleFile(_ name: String) -> String? {
        var names = utsname()
        uname(&names)
        let release = withUnsafeBytes(of: &names.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard let bytes = try? readWholeFile("/lib/modules/\(release)/modules.dep", limit: 1 << 24) else { return nil }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let path = line[..<colon]
            let file = path.split(separator: "/").last ?? ""
            if file == "\(name).ko" || file.hasPrefix("\(name).ko.") { return String(path) }
        }
        return nil
    }
}
