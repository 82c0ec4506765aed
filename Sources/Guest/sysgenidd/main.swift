#if canImport(Glibc)
import Glibc
#endif
import AgentProtocol
import SysGenID

// sysgenidd: the guest side of genid. The lab's guest agent, and (without
// the kernel module) the userspace sysgenid provider, in one process.

let usage = """
    usage: sysgenidd [--provider | --no-provider] [--socket PATH] [--page PATH]
                     [--agent-port NAME ... | --no-agent]

    Provider (the userspace implementation of /dev/sysgenid's contract):
      default        run it only when /dev/sysgenid does not exist
      --provider     always run it
      --no-provider  never run it
      --socket PATH  its socket (default \(SysGenIDProvider.defaultSocketPath))
      --page PATH    its page file (default \(SysGenIDProvider.defaultPagePath))
    The provider bumps its counter when the VMGENID value changes (woken by
    the kernel's "virtual machine fork" log line, and compared every
    \(HardwareWatcher.periodSeconds) s) and on TRIGGER by a client with
    CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN. Documentation/sysgenid-provider.md.

    Agent: answers the host's requests (ping, status, watchers, wait-watchers,
    wait-ready, slow-watcher, conformance, arm-wakeup, bench) on virtio-serial
    ports, each port on its own thread.
      default            wait for \(agentPortName) (the lab's) and, once it is
                         there, also serve \(genidAgentPortName) (genidd's) if the
                         VM has that port
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

var arguments = CommandLine.arguments.dropFirst()
@MainActor func value(for option: String) -> String {
    guard let value = arguments.popFirst() else {
        log("\(option) needs a value\n\n" + usage)
        exit(64)
    }
    return value
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
    case "-h", "--help":
        print(usage, terminator: "")
        exit(0)
    default:
        log("unknown argument '\(argument)'\n\n" + usage)
        exit(64)
    }
}

signal(SIGPIPE, SIG_IGN)
let runProvider: Bool
switch providerMode {
case .on: runProvider = true
case .off: runProvider = false
case .automatic: runProvider = access(SysGenIDProvider.defaultDevicePath, F_OK) != 0
}

var provider: Provider?
if runProvider {
    let candidate = Provider(socketPath: socketPath, pagePath: pagePath)
    do {
        try candidate.start()
        provider = candidate
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
if agentEnabled && !context.startReaders() {
    log("no sysgenid provider: the blocking, poll and mmap readers do not run")
}

if agentEnabled {
    // One server per port, each waiting for its own port.
    let waitedFor = explicitPorts.isEmpty ? [agentPortName] : explicitPorts
    for name in waitedFor {
        PosixThread.detach { [context] in AgentServer.serve(portNamed: name, context: context) }
    }
    if explicitPorts.isEmpty {
        // genidd's port is optional: look once, when the lab's port is there
        // (all ports of the device appear together), and never poll for it.
        while AgentPort.findDevice(named: agentPortName) == nil { usleep(100_000) }
        AgentPort.waitForNames()
        if AgentPort.findDevice(named: genidAgentPortName) != nil {
            PosixThread.detach { [context] in AgentServer.serve(portNamed: genidAgentPortName, context: context) }
        } else {
            log("no virtio-serial port \(genidAgentPortName): not served")
        }
    }
}
while true { pause() }
