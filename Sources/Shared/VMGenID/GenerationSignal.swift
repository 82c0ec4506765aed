/// A guest-visible signal that a state load must change, written by the
/// host in the VM's paused window (after the load, before `cont`). Each
/// kind is a small type that finds its place from the guest's own tables,
/// checks that the device put its state there, and writes the new
/// generation there: its only writes go to the `SignalRegion` it located.
public protocol GenerationSignal: Sendable {
    /// Short name for messages and reports: "vmgenid".
    var name: String { get }

    /// Finds the signal's region from the guest's own tables, checked
    /// against guest RAM; throws if the guest has none or they are malformed.
    func locate(in memory: some GuestMemory) throws(VMGenIDError) -> SignalRegion

    /// Right after a state load: whether `region` holds what the device
    /// itself put there. If not, the tables no longer say where the device
    /// is (the guest rewrote them), and nothing may be written.
    func holdsDeviceState(_ region: SignalRegion, in memory: some GuestMemory,
                          device: DeviceState) throws(VMGenIDError) -> Bool

    /// Writes `generation` into `region` and reads it back.
    func write(_ generation: GenerationID, into region: SignalRegion,
               in memory: some GuestMemory) throws(VMGenIDError)
}

/// What the hypervisor says its devices hold after a state load.
public struct DeviceState: Sendable, Equatable {
    /// QEMU's `query-vm-generation-id`: the vmgenid device's own value,
    /// which it writes into the page at every load.
    public var vmgenid: GenerationID?
    /// Where the vmgenid device keeps its value (guest-physical), from
    /// QEMU's own device state; nil when not asked.
    public var vmgenidValueAddress: UInt64?

    public init(vmgenid: GenerationID?, vmgenidValueAddress: UInt64? = nil) {
        self.vmgenid = vmgenid
        self.vmgenidValueAddress = vmgenidValueAddress
    }
}
