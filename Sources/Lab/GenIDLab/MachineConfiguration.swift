import AgentProtocol

/// How to boot one lab machine.
public struct MachineConfiguration: Sendable {
    public enum Accelerator: String, Sendable, CaseIterable {
        case tcg, kvm
    }

    public var image: GuestImage
    /// QEMU's machine type: "q35", or "pc" (i440fx, whose RAM below 4 GiB
    /// QEMU splits differently: 3 GiB when the guest has 3.5 GiB or more).
    public var machineType = "q35"
    public var memoryMiB = 512
    /// One private `memory-backend-ram` per NUMA node, of these sizes in MiB
    /// (adding up to `memoryMiB`): a RAM block per node, reached only
    /// through /proc/PID/mem. Empty: all of guest RAM in the shared file.
    public var numaNodesMiB: [Int] = []
    public var accelerator = Accelerator.tcg
    /// `tsc=reliable`: under TCG on a busy host the clocksource watchdog
    /// marks the TSC unstable after every revert and a 7.x kernel then
    /// re-patches ktime_get (its inlined TSC read) while interrupts run,
    /// which was seen to oops (`int3` in `ktime_get`). The lab tests genid,
    /// not the emulated TSC.
    public var kernelCommandLine = "console=ttyS0 panic=-1 quiet tsc=reliable"
    /// A fixed starting value for -device vmgenid; nil lets QEMU pick one.
    public var initialGenerationID: String?
    public var diskMiB = 64
    /// Start paused, waiting for a migration stream (`-incoming defer`):
    /// the target of a restore.
    public var incoming = false
    /// More virtio-serial ports for the guest agent besides `agentPortName`,
    /// by name (e.g. `genidAgentPortName`, the port genidd uses), each on a
    /// socket of its own: `RunDirectory.agentSocket(port:)`.
    public var extraAgentPorts: [String] = []
    /// `-device vmclock` (QEMU >= 10): the VMClock page Linux >= 7.0 guests
    /// show as `/dev/vmclock0`.
    public var vmclock = false
    /// Virtual CPUs (`-smp`).
    public var cpus = 1
    /// Boot the disk through the firmware (SeaBIOS) instead of the image's
    /// kernel and initramfs: for disk images with their own boot loader.
    public var firmwareBoot = false
    /// The machine's disk is a qcow2 overlay (in its run directory) on
    /// this image, which QEMU opens read-only: the image is never written.
    public var backingDisk: String?
    /// The machine's disk is this file, used as it is (a check's source
    /// overlay, which its clones then use as their backing image).
    public var diskFile: String?
    /// More QEMU arguments, appended as given (extra devices).
    public var extraArguments: [String] = []

    public init(image: GuestImage) {
        self.image = image
    }

    /// QEMU's arguments (without the executable) for this machine.
    ///
    /// Guest RAM is a shared file so the host can reach the VMGENID page;
    /// the qcow2 disk exists so internal snapshots (savevm/loadvm) work;
    /// -cpu max gives the guest RDRAND, so its RNG is ready at boot and the
    /// kernel logs VM forks.
    public func qemuArguments(in directory: RunDirectory) -> [String] {
        let generation = initialGenerationID.map { ",guid=\($0)" } ?? ""
        let boot = firmwareBoot ? [] : ["-kernel", image.kernel.imagePath]
            + (image.initramfsPath.isEmpty ? [] : ["-initrd", image.initramfsPath]) + ["-append", kernelCommandLine]
        let memory = numaNodesMiB.isEmpty
            ? ["-object", "memory-backend-file,id=mem,size=\(memoryMiB)M,mem-path=\(directory.ramFile),share=on"]
            : numaNodesMiB.enumerated().flatMap { node, size in
                ["-object", "memory-backend-ram,id=ram-node\(node),size=\(size)M",
                 "-numa", "node,nodeid=\(node),memdev=ram-node\(node)"]
            }
        return [
            "-name", "genid-lab,debug-threads=on",
            "-machine", "\(machineType),accel=\(accelerator.rawValue)" + (numaNodesMiB.isEmpty ? ",memory-backend=mem" : ""),
            "-cpu", "max",
            "-m", "\(memoryMiB)M", "-smp", "\(cpus)",
        ] + memory + [
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        ] + boot + [
            "-device", "vmgenid,id=vgid0\(generation)",
            "-drive", "file=\(diskFile ?? directory.disk),if=none,id=disk0,format=qcow2",
            "-device", "virtio-blk-pci,drive=disk0",
            "-chardev", "socket,id=qmp,path=\(directory.qmpSocket),server=on,wait=off",
            "-mon", "chardev=qmp,mode=control",
            "-device", "virtio-serial-pci,id=vser0",
            "-chardev", "socket,id=agent,path=\(directory.agentSocket),server=on,wait=off",
            "-device", "virtserialport,bus=vser0.0,chardev=agent,name=\(agentPortName)",
        ] + (vmclock ? ["-device", "vmclock"] : []) + extraAgentPortArguments(in: directory) + [
            "-serial", "file:\(directory.consoleLog)",
            "-pidfile", directory.qemuPid,
        ] + extraArguments + (incoming ? ["-incoming", "defer"] : [])
    }

    /// A chardev and a port on the same virtio-serial bus per extra port,
    /// like the lab's own: the guest sees them all appear together.
    private func extraAgentPortArguments(in directory: RunDirectory) -> [String] {
        extraAgentPorts.enumerated().flatMap { index, name in
            ["-chardev", "socket,id=agent\(index + 1),path=\(directory.agentSocket(port: name)),server=on,wait=off",
             "-device", "virtserialport,bus=vser0.0,chardev=agent\(index + 1),name=\(name)"]
        }
    }
}
