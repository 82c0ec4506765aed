#if canImport(Glibc)
import Glibc
#endif
import SysGenID
import Synchronization
import VMGenID

/// Reads the 16-byte VMGENID value the way the agent does: the address from
/// the VMGENID SSDT, the bytes through /dev/mem.
final class VMGenIDReader: @unchecked Sendable {
    private let monitor = Monitor()
    private var table: VMGenIDTable?

    func locate() throws -> VMGenIDTable {
        try monitor.locked {
            if let table { return table }
            let names = try directoryEntries(GuestView.acpiTablesPath).filter { $0.hasPrefix("SSDT") }
            let tables = try names.map { try readWholeFile("\(GuestView.acpiTablesPath)/\($0)") }
            let located = try VMGenIDTable(anyOf: tables)
            table = located
            return located
        }
    }

    func read() throws -> GenerationID {
        let table = try locate()
        let bytes = try PhysicalMemory.read(address: table.valueAddress, count: VMGenIDTable.valueLength)
        return GenerationID(guestBytes: bytes)!
    }
}

/// Watches /dev/kmsg for the kernel's VM-fork line, counts it (since boot:
/// the records already in the buffer count too), and tells the provider to
/// compare the VMGENID value; plus a periodic compare as a safety net.
/// Records which values the provider has taken (`ProcessedValues`) for the
/// readiness gate.
final class HardwareWatcher: @unchecked Sendable {
    static let vmforkLine = "random: crng reseeded due to virtual machine fork"
    static let periodSeconds: UInt32 = 5
    /// How long to wait after the VM-fork line for the module's counter to
    /// move: the kernel logs the line just before its vmfork notifier runs.
    static let moduleSettleMilliseconds: Int64 = 1000

    /// Lines seen since boot.
    let vmforkCount = Atomic<Int>(0)
    let reader = VMGenIDReader()
    /// The values whose generation the provider has taken.
    let processed = ProcessedValues()
    private let monitor = Monitor()
    private var lastValue: GenerationID?
    private var provider: Provider?
    /// Reads the kernel module's counter; nil when the module is not the provider.
    private var moduleCounter: (@Sendable () -> UInt32?)?
    private var moduleCounterAtLastValue: UInt32?

    /// Starts the kmsg thread (always: the agent reports the count) and,
    /// with a provider (ours or the module), the comparisons that drive its
    /// counter or follow it.
    func start(provider: Provider?, moduleCounter: (@Sendable () -> UInt32?)? = nil) {
        self.provider = provider
        self.moduleCounter = provider == nil ? moduleCounter : nil
        if provider != nil || self.moduleCounter != nil {
            lastValue = try? reader.read()
            moduleCounterAtLastValue = self.moduleCounter?()
            // The value at boot: its generation is the provider's first.
            if let lastValue { processed.record(lastValue) } else {
                log("VMGENID not readable: hardware-driven changes rely on the periodic retry")
            }
            PosixThread.detach { [self] in
                while true {
                    sleep(HardwareWatcher.periodSeconds)
                    compare(reason: "periodic compare")
                }
            }
        }
        PosixThread.detach { [self] in watchKernelLog() }
    }

    /// Compares the VMGENID value with the last one; a change is one bump
    /// (ours) or one the module made. Either way the value then counts as
    /// processed.
    func compare(reason: String) {
        guard provider != nil || moduleCounter != nil else { return }
        monitor.locked {
            guard let value = try? reader.read() else { return }
            if let lastValue, value == lastValue { return }
            if let provider {
                if lastValue != nil { provider.bump(reason: "VMGENID changed to \(value), \(reason)") }
            } else if let moduleCounter {
                if lastValue != nil { waitForModuleBump(moduleCounter) }
                moduleCounterAtLastValue = moduleCounter()
            }
            lastValue = value
            processed.record(value)
        }
    }

    /// The module bumps in the kernel's vmfork notifier, which runs right
    /// after the line is logged: wait (briefly) until its counter moved, so
    /// the value is never called processed before the module took it.
    private func waitForModuleBump(_ moduleCounter: () -> UInt32?) {
        let deadline = monotonicMilliseconds() + HardwareWatcher.moduleSettleMilliseconds
        while moduleCounter() == moduleCounterAtLastValue && monotonicMilliseconds() < deadline {
            sleepMilliseconds(1)
        }
    }

    private func watchKernelLog() {
        let fd = open("/dev/kmsg", O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            log("\(SystemCallError("open", "/dev/kmsg")); kernel_vmfork_count stays 0")
            return
        }
        var record = [UInt8](repeating: 0, count: 8192)
        var catchingUp = true
        while true {
            let count = record.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                switch errno {
                case EINTR, EPIPE: continue  // EPIPE: records overwritten; go on from the next
                case EAGAIN:
                    // Caught up with the records since boot: now block for new ones.
                    catchingUp = false
                    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
                    continue
                default:
                    log("\(SystemCallError("read", "/dev/kmsg")); stop watching")
                    close(fd)
                    return
                }
            }
            guard count > 0 else { continue }
            let text = String(decoding: record[..<count], as: UTF8.self)
            // "<prio>,<seq>,<usec>,<flags>;<message>\n"
            guard let semicolon = text.firstIndex(of: ";") else { continue }
            let message = text[text.index(after: semicolon)...]
            if message.hasPrefix(HardwareWatcher.vmforkLine) {
                vmforkCount.add(1, ordering: .relaxed)
                if !catchingUp { compare(reason: "kernel logged a VM fork") }
            }
        }
    }
}
