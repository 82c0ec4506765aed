/// What the guest agent answers. Field names are part of the protocol.
public enum AgentVerb: String, Sendable, CaseIterable {
    /// `ok agent=sysgenidd protocol=1`: the agent is up.
    case ping
    /// `ok kernel_release=… vmgenid=<rfc>|vmgenid_error=… vmgenid_address=0x…
    /// monotonic_ns=… boottime_ns=… sysgenid_provider=module|userspace|none
    /// [sysgenid_counter=N] kernel_vmfork_count=N [reader_blocking=N
    /// reader_poll=N reader_mmap=N, each with <key>_monotonic_ns]`: what the
    /// guest sees now.
    case status
    /// `wait-watchers <timeout_ms>` (0 = no timeout): SYSGENID_WAIT_WATCHERS
    /// in the guest on a fresh handle. `ok elapsed_ms=… sysgenid_counter=N`,
    /// or `error ETIME …` / `error <ERRNO> …`.
    case waitWatchers = "wait-watchers"
    /// `ok sysgenid_provider=… sysgenid_counter=N [tracked=T outdated=O
    /// clients=C]`: the watcher counts (known for the userspace provider only;
    /// `watchers_known=0` for the module).
    case watchers
    /// `conformance device|userspace [fresh]`: runs the in-guest conformance
    /// suite (`/usr/bin/sysgenidctl conformance`, nothing else) and answers
    /// `ok provider=… total=N passed=P failed=F elapsed_ms=… results=…`;
    /// `results` is one check per line: `PASS|FAIL<TAB>section<TAB>name<TAB>detail`.
    case conformance
    /// `arm-wakeup`: arms a one-shot wake-up probe, a thread blocked in
    /// read() on a fresh handle of the active provider: `ok
    /// sysgenid_counter=N`. When the generation changes, the thread writes
    /// the unsolicited line `0 event wakeup generation=N monotonic_ns=…` at
    /// once (see `AgentEvent`).
    case armWakeup = "arm-wakeup"
    /// `bench [mmap_loads] [reads]`: the cost of one check of the mapped
    /// counter and of one read() on an outdated handle, measured in the
    /// guest: `ok provider=… mmap_ns_per_op=… read_ns_per_op=… …`. May bump
    /// the counter (TRIGGER) to get an outdated handle.
    case bench
    /// `wait-ready <vmgenid> <timeout_ms>` (0 = no timeout): the readiness
    /// gate after a state load. Waits until (a) the guest's sysgenid
    /// provider has taken the generation for VMGENID value `<vmgenid>`
    /// (RFC-4122 text), i.e. the agent processed that value (kernel VM-fork
    /// line or periodic compare, after the provider's bump), then (b) every
    /// tracked sysgenid watcher acknowledged (as `wait-watchers`, with the
    /// time left). `ok elapsed_ms=… generation_ms=… sysgenid_counter=N`, or
    /// `error ETIMEDOUT value …` (stage a) / `error ETIMEDOUT watchers …`
    /// (stage b) / `error ENODEV …` (no provider) / `error usage: …`.
    case waitReady = "wait-ready"
    /// `slow-watcher <ack_delay_ms>`: starts, in the agent, one more tracked
    /// watcher of the active provider that acknowledges each new generation
    /// only `ack_delay_ms` after reading it: a slow consumer for testing the
    /// readiness gate. `ok watcher=started slow_watchers=N sysgenid_counter=N`,
    /// or `error ENODEV …`. Each call adds one; they live as long as the agent.
    case slowWatcher = "slow-watcher"
    /// `system [unit ...]`: how the guest system around the agent stands,
    /// for guests with a real init: `init=<comm of PID 1>`; with systemd,
    /// `system_state=` (`systemctl is-system-running`: running, degraded,
    /// starting, …), `failed_units=` (comma-separated) and `unit_<name>=` (`systemctl is-active`, name
    /// lowercased with every other character than a-z0-9 as `_`) for each
    /// unit asked for; `sysgenid_module_file=` (the loaded module's file
    /// under /lib/modules/<release>, from modules.dep; absent when not
    /// loaded) and `sysgenid_device_mode=` (octal, absent without the
    /// device). Runs systemctl, nothing else.
    case system
}

/// Keys of the `system` response.
public enum AgentSystemField {
    public static let initName = "init"
    public static let systemState = "system_state"
    /// Comma-separated names of the units systemd lists as failed.
    public static let failedUnits = "failed_units"
    public static let sysgenidModuleFile = "sysgenid_module_file"
    public static let sysgenidDeviceMode = "sysgenid_device_mode"

    /// The key of a unit's state: `unit_` and the name, lowercased, with
    /// every character other than a-z and 0-9 as `_`.
    public static func unit(_ name: String) -> String {
        "unit_" + String(name.lowercased().map { ($0.isASCII && ($0.isLetter || $0.isNumber)) ? $0 : "_" })
    }

    static let unitSuffixes = [".service", ".target", ".socket", ".mount", ".path", ".timer", ".device"]

    /// Unit names the verb accepts: systemd's characters, a known suffix,
    /// no leading `-` (systemctl would take it for an option).
    public static func isUnitName(_ name: String) -> Bool { unitNameProblem(name) == nil }

    /// Why `name` is not a unit name the verb accepts, in words; nil if it is.
    public static func unitNameProblem(_ name: String) -> String? {
        if name.hasPrefix("-") { return "starts with '-' (systemctl would read it as an option)" }
        if name.count > 255 { return "is longer than 255 characters" }
        if !unitSuffixes.contains(where: { name.hasSuffix($0) }) {
            return "does not end in " + unitSuffixes.joined(separator: ", ")
        }
        if !name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "@._:-\\".contains($0)) }) {
            return "has characters other than letters, digits and @._:-\\"
        }
        return nil
    }

    /// The verb's error for `units`, naming the first name refused and why;
    /// nil when all are unit names.
    public static func argumentsError(_ units: [String]) -> String? {
        for unit in units {
            if let problem = unitNameProblem(unit) { return "usage: system [unit ...]: '\(unit)' \(problem)" }
        }
        return nil
    }

    /// systemctl's arguments for the units' states: `--` ends its options,
    /// so no name is ever read as one.
    public static func isActiveArguments(_ units: [String]) -> [String] { ["is-active", "--"] + units }
}

/// Keys of the `status` response.
public enum AgentStatusField {
    public static let kernelRelease = "kernel_release"
    public static let vmgenid = "vmgenid"
    public static let vmgenidError = "vmgenid_error"
    public static let vmgenidAddress = "vmgenid_address"
    public static let monotonicNanoseconds = "monotonic_ns"
    public static let boottimeNanoseconds = "boottime_ns"
    /// What the guest's unprivileged VMClock reader (`sysgenidctl vmclock
    /// --follow`, started by the lab's init) logged: every
    /// `vm_generation_counter` it saw, in order, comma-separated; the last
    /// reading's flags; the reader's uid. Absent without `/dev/vmclock0`.
    public static let vmclockCounters = "vmclock_counters"
    public static let vmclockFlags = "vmclock_flags"
    public static let vmclockReaderUID = "vmclock_reader_uid"
    /// The active provider's counter; absent when there is none.
    public static let sysgenidCounter = "sysgenid_counter"
    /// `module`, `userspace` or `none`.
    public static let sysgenidProvider = "sysgenid_provider"
    /// `random: crng reseeded due to virtual machine fork` lines in
    /// /dev/kmsg since boot: the guest kernel processed a VMGENID change.
    public static let kernelVMForkCount = "kernel_vmfork_count"
    /// The last generation the agent's blocking read() reader, poll()
    /// reader and mmap watcher saw; absent while that reader does not run.
    /// Each also comes with `<key>_monotonic_ns`: when (CLOCK_MONOTONIC).
    public static let readerBlocking = "reader_blocking"
    public static let readerPoll = "reader_poll"
    public static let readerMmap = "reader_mmap"
    /// sysgenidd's generation hooks (`--hooks`): rounds finished since
    /// start (every hook of the round ended) and the generation of the
    /// last one; absent when the hooks do not run.
    public static let hookRounds = "hook_rounds"
    public static let hookGeneration = "hook_generation"
}

/// Keys of the `wait-watchers`, `watchers` and `conformance` responses.
public enum AgentSysGenIDField {
    public static let elapsedMilliseconds = "elapsed_ms"
    public static let tracked = "tracked"
    public static let outdated = "outdated"
    public static let clients = "clients"
    public static let watchersKnown = "watchers_known"
    public static let provider = "provider"
    public static let total = "total"
    public static let passed = "passed"
    public static let failed = "failed"
    public static let results = "results"
}

/// Keys of the `wait-ready` and `slow-watcher` responses (`wait-ready` also
/// has `AgentSysGenIDField.elapsedMilliseconds` and
/// `AgentStatusField.sysgenidCounter`).
public enum AgentReadinessField {
    /// Milliseconds from the request until the provider had taken the
    /// generation for the value (stage a); the rest of `elapsed_ms` is the
    /// watchers' (stage b).
    public static let generationMilliseconds = "generation_ms"
    /// `started`.
    public static let watcher = "watcher"
    /// Slow watchers running in the agent, this one included.
    public static let slowWatchers = "slow_watchers"
}

/// The message of a `wait-ready` that ran out of time starts with this
/// (then `value` or `watchers`: the stage it was in).
public let agentTimedOutPrefix = "ETIMEDOUT"

/// Name of the virtio-serial port the agent listens on (QEMU
/// `virtserialport,name=…`; the guest sees it in /sys/class/virtio-ports/*/name).
public let agentPortName = "org.genid.agent.0"
/// The second port, for the host daemon genidd; the agent serves it too
/// when the VM has it, so genidd and the lab never share a connection.
public let genidAgentPortName = "org.genid.genidd.0"
public let agentProtocolVersion = 1
