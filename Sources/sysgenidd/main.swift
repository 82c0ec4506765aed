#if canImport(Glibc)
import Glibc
#endif
import AgentProtocol

// sysgenidd: the guest side of genid. Today it is the lab's guest agent:
// it answers the host over a virtio-serial port with what the guest sees.

let usage = """
    usage: sysgenidd [--agent-port NAME]

    Runs the genid guest agent: waits for the virtio-serial port NAME
    (default \(agentPortName)) and answers the host's requests (ping,
    status) with the guest-visible VMGENID value, the kernel release and
    the guest's clocks. Logs go to standard error.

    """

var portName = agentPortName
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--agent-port":
        guard let value = arguments.popFirst() else {
            log("--agent-port needs a port name\n\n" + usage)
            exit(64)
        }
        portName = value
    case "-h", "--help":
        print(usage, terminator: "")
        exit(0)
    default:
        log("unknown argument '\(argument)'\n\n" + usage)
        exit(64)
    }
}

let port = AgentPort.open(named: portName)
log("agent listening on \(port.devicePath) (\(portName))")
var server = AgentServer(port: port)
server.run()
