import CLibvirt
#if canImport(Glibc)
import Glibc
#endif

extension Domain {
    /// `virDomainQemuMonitorCommand` (libvirt-qemu): sends one command to the
    /// domain's QEMU monitor and returns QEMU's reply text. Without `hmp` the
    /// command is a QMP JSON object and the reply is QMP JSON; with `hmp` both
    /// are HMP text.
    ///
    /// libvirt marks the domain *tainted* ("custom-monitor") the first time:
    /// it cannot know what the command changed. Use it only where no API does
    /// the job. Blocks until QEMU answers.
    public func qemuMonitorCommand(_ command: String, hmp: Bool = false) throws(LibvirtError) -> String {
        var result: UnsafeMutablePointer<CChar>?
        let flags = hmp ? UInt32(VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP.rawValue) : 0
        guard virDomainQemuMonitorCommand(pointer, command, &result, flags) == 0 else {
            throw LibvirtError.last("sending '\(command.prefix(80))' to the QEMU monitor of domain '\(name)'")
        }
        return try takeCString(result, "reading the QEMU monitor reply of domain '\(name)'")
    }
}
