/// What the guest agent answers. Field names are part of the protocol.
public enum AgentVerb: String, Sendable, CaseIterable {
    /// `ok agent=sysgenidd protocol=1`: the agent is up.
    case ping
    /// `ok kernel_release=… vmgenid=<rfc>|vmgenid_error=… vmgenid_address=0x…
    /// monotonic_ns=… boottime_ns=…`: what the guest sees now.
    case status
}

/// Keys of the `status` response.
public enum AgentStatusField {
    public static let kernelRelease = "kernel_release"
    public static let vmgenid = "vmgenid"
    public static let vmgenidError = "vmgenid_error"
    public static let vmgenidAddress = "vmgenid_address"
    public static let monotonicNanoseconds = "monotonic_ns"
    public static let boottimeNanoseconds = "boottime_ns"
}

/// Name of the virtio-serial port the agent listens on (QEMU
/// `virtserialport,name=…`; the guest sees it in /sys/class/virtio-ports/*/name).
public let agentPortName = "org.genid.agent.0"
public let agentProtocolVersion = 1
