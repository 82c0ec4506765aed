#if canImport(Glibc)
import Glibc
#endif
import AgentProtocol
import SysGenID

// sysgenidd: the guest side of genid. The lab's guest agent, and (without
// the kernel module) the userspace sysgenid provider, in one process.

let usage = """
    usage: sysgenidd [--provider | --no-provider] [--socket PATH] [--page PATH]
                     [--connections-per-uid N] [--connections-total N]
                     [--hooks DIR | --no-hooks] [--hook-timeout SECONDS]
                     [--agent-port NAME ... | --no-agent]

    Provider (the userspace implementation of /dev/sysgenid's contract):
      default        run it only when /dev/sysgenid does not exist
      --provider     always run it
      --no-provider  never run it
      --socket PATH  its socket (default \(SysGenIDProvider.defaultSocketPath))
      --page PATH    its page file (default \(SysGenIDProvider.defaultPagePath))
      --connections-per-uid N
                     connections one uid other than root may hold at once
                     (default \(Provider.defaultConnectionsPerUID)); more are refused with EMFILE
      --connections-total N
                     connections all uids other than root may hold together
                     (default \(Provider.defaultConnectionsTotal), lowered to leave root 512
                     of the descriptor limit); more are refused with EMFILE,
                     root never is
    The provider bumps its counter when the VMGENID value changes (woken by
    the kernel's "virtual machine fork" log line, and compared every
    \(HardwareWatcher.periodSeconds) s) and on TRIGGER by a client that was root when
    it connected, with CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN. A TRIGGER
    minimum more than 2^20 above the counter is refused (EINVAL).
    Documentation/sysgenid-provider.md.

    Generation hooks: at each new generation the executables in DIR run one
    after the other in name order (names of letters, digits, _ and - only),
    with SYSGENID_GENERATION and SYSGENID_VMGENID set, each stopped after the
    time limit. They count as one tracked watcher that acknowledges after the
    last one ended, so the host's wait-ready waits for them.
      --hooks DIR              default \(GenerationHooks.defaultDirectory) (if it exists)
      --hook-timeout SECONDS   per hook, default \(GenerationHooks.defaultTimeoutSeconds)
      --no-hooks               run none

    Agent: answers the host's requests (ping, status, watchers, wait-watchers,
    wait-ready, slow-watcher, conformance, arm-wakeup, bench, system) on
    virtio-serial ports, each port on its own thread.
      default            serve \(agentPortName) (the lab's) and
                         \(genidAgentPortName) (genidd's), whichever the VM
                         has, once the first of them appears
      --agent-port NAME  serve port NAME instead, waiting for it; give it once
                         per port
      --no-agent         provider only
    Logs go to standard error.

    """

enum ProviderMode { case automatic, on, off }
var providerMode = ProviderMode.automatic
var explicitPorts: [String] = []
var agentEnabled = true
var socketPath = SysGenIDProvider.defaultSocketPath
var pagePath = SysGenIDProvider.defaultPagePath
var hooksDirectory: String? = GenerationHooks.defaultDirectory
var hookTimeoutSeconds = GenerationHooks.defaultTimeoutSeconds
var connectionsPerUID = Provider.defaultConnectionsPerUID
var connectionsTotal = Provider.defaultConnectionsTotal

var arguments = CommandLine.arguments.dropFirst()
@MainActor func value(for option: String) -> String {
    guard let value = arguments.popFirst() else {
        log("\(option) needs a value\n\n" + usage)
        exit(64)
    }
    return value
}
/// The option's value as a whole number > 0 (`what` names it in the error).
@MainActor func positiveNumber(for option: String, what: String) -> Int {
    let text = value(for: option)
    guard let number = Int(text), number > 0 else {
        log("\(option) needs \(what) > 0, not '\(text)'\n\n" + usage)
        exit(64)
    }
    return number
}
while let argument = arguments.popFirst() {
    switch argument {
    case "--agent-port":
        let name = value(for: argument)
        if !explicitPorts.contains(name) { explicitPorts.append(name) }
    case "--no-agent": agentEnabled = false
    case "--provider": providerMode = .on
    case "--no-provider": providerMode = .off
    case "--socket": socketPath = value(for: argument)
    case "--page": pagePath = value(for: argument)
    case "--hooks": hooksDirectory = value(for: argument)
    case "--no-hooks": hooksDirectory = nil
    case "--hook-timeout": hookTimeoutSeconds = positiveNumber(for: argument, what: "a whole number of seconds")
    case "--connections-per-uid": connectionsPerUID = positiveNumber(for: argument, what: "a whole number")
    case "--connections-total": connectionsTotal = positiveNumber(for: argument, what: "a whole number")
    case "-h", "--help":
        print(usage, terminator: "")
        exit(0)
    default:
        log("unknown argument '\(argument)'\n\n" + usage)
        exit(64)
    }
}

signal(SIGPIPE, SIG_IGN)
markInheritedDescriptorsCloseOnExec()
let runProvider: Bool
switch providerMode {
case .on: runProvider = true
case .off: runProvider = false
case .automatic: runProvider = access(SysGenIDProvider.defaultDevicePath, F_OK) != 0
}

var provider: Provider?
if runProvider {
    let candidate = Provider(socketPath: socketPath, pagePath: pagePath, connectionsPerUID: connectionsPerUID,
                             connectionsTotal: connectionsTotal)
    do {
        try candidate.start()
        provider = candidate
        // Stock consumers (AWS-LC's VM UBE among them) know only the
        // device: they must hear that they are on their own.
        log("WARNING: no \(SysGenIDProvider.defaultDevicePath) (the sysgenid kernel module is not loaded): "
            + "programs that open \(SysGenIDProvider.defaultDevicePath) find nothing and are NOT told of VM "
            + "generation changes. Protected: programs using the SysGenID library or sysgenidctl, and "
            + "read-only mappings of \(pagePath). Install sysgenid-dkms to protect the others.")
    } catch {
        log("cannot start the userspace provider: \(error)")
        exit(1)
    }
} else if access(SysGenIDProvider.defaultDevicePath, F_OK) == 0 {
    log("using the kernel module's \(SysGenIDProvider.defaultDevicePath); no userspace provider")
}
let watcher = HardwareWatcher()
// Without our provider the module's counter tells when it took a new value.
var moduleCounter: (@Sendable () -> UInt32?)?
if provider == nil && access(SysGenIDProvider.defaultDevicePath, F_OK) == 0 {
    moduleCounter = { GuestContext.moduleCounter() }
}
watcher.start(provider: provider, moduleCounter: moduleCounter)
let context = GuestContext(provider: provider, watcher: watcher)
if let hooksDirectory, let active = context.active {
    var info = stat()
    if stat(hooksDirectory, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
        let hooks = GenerationHooks(directory: hooksDirectory, timeoutSeconds: hookTimeoutSeconds)
        do {
            try hooks.start(provider: active) { [watcher] in try? watcher.reader.read() }
            context.hooks = hooks
        } catch {
            log("generation hooks not started: \(error)")
        }
    } else if hooksDirectory != GenerationHooks.defaultDirectory {
        log("no hooks directory \(hooksDirectory): generation hooks not run")
    }
}
if agentEnabled && !context.startReaders() {
    log("no sysgenid provider: the blocking, poll and mmap readers do not run")
}

if agentEnabled {
    if !explicitPorts.isEmpty {
        // One server per port, each waiting for its own port.
        for name in explicitPorts {
            PosixThread.detach { [context] in AgentServer.serve(portNamed: name, context: context) }
        }
    } else {
        // Whichever of the two ports the VM has: the lab's, genidd's, or
        // both. All ports of a virtio-serial device appear together, so
        // wait for the first, then serve each one there is; a VM with
        // neither (no genid host) is looked at less and less often.
        var pause: UInt32 = 100_000
        while AgentPort.findDevice(named: agentPortName) == nil && AgentPort.findDevice(named: genidAgentPortName) == nil {
            usleep(pause)
            pause = min(pause * 2, 5_000_000)
        }
        AgentPort.waitForNames()
        for name in [agentPortName, genidAgentPortName] {
            if AgentPort.findDevice(named: name) != nil {
                PosixThread.detach { [context] in AgentServer.serve(portNamed: name, context: context) }
            } else {
                log("no virtio-serial port \(name): not served")
            }
        }
    }
}
while true { pause() }
