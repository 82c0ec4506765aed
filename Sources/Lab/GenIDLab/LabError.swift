/// Everything that can stop the lab, phrased so the reader knows what to do.
public enum LabError: Error, CustomStringConvertible, Sendable {
    case kernelNotInstalled(selector: String, searched: String, installed: [String])
    case missingTool(name: String, package: String)
    case missingGuestBinary(path: String)
    case moduleNotFound(name: String, release: String)
    case commandFailed(command: String, status: Int32, output: String)
    case qemuExited(status: Int32, consoleTail: String, stderrTail: String)
    case agentTimeout(seconds: Double, consoleTail: String)
    case agentError(verb: String, message: String)
    case agentProtocol(String)
    case io(path: String, message: String)
    case invalidArgument(String)
    case debianImageMissing(directory: String, missing: String)

    public var description: String {
        switch self {
        case let .kernelNotInstalled(selector, searched, installed):
            return "no guest kernel matches '\(selector)' in \(searched) (bootable series installed: "
                + (installed.isEmpty ? "none" : installed.joined(separator: ", ")) + "). The lab boots Debian's "
                + "standard -amd64 flavour (the -cloud flavour lacks CONFIG_VMGENID) with its modules in /lib/modules: "
                + "'sudo qemu/setup-host' installs 6.1 and 6.12, 'sudo qemu/newer-stack build' Debian 13's 7.x "
                + "(in its own root); for another series install its linux-image package (vmlinuz-RELEASE in /boot)"
        case let .missingTool(name, package):
            return "'\(name)' is not installed; install the Debian package \(package) (or run 'sudo qemu/setup-host')"
        case let .missingGuestBinary(path):
            return "guest executable \(path) is missing; build it with 'make guest' "
                + "(swift build -c release --static-swift-stdlib --product sysgenidd --scratch-path .build-guest)"
        case let .moduleNotFound(name, release):
            return "kernel module \(name) is neither built into \(release) nor listed in its modules.dep"
        case let .commandFailed(command, status, output):
            return "\(command) failed with status \(status): \(output.suffix(2000))"
        case let .qemuExited(status, consoleTail, stderrTail):
            return "QEMU exited with status \(status) before the guest was ready.\n--- QEMU stderr ---\n\(stderrTail)\n--- guest console (tail) ---\n\(consoleTail)"
        case let .agentTimeout(seconds, consoleTail):
            return "the guest agent did not answer within \(seconds) s.\n--- guest console (tail) ---\n\(consoleTail)"
        case let .agentError(verb, message):
            return "the guest agent refused '\(verb)': \(message)"
        case let .agentProtocol(message):
            return "guest agent protocol error: \(message)"
        case let .io(path, message):
            return "\(path): \(message)"
        case let .invalidArgument(message):
            return message
        case let .debianImageMissing(directory, missing):
            return "no Debian guest image in \(directory) (\(missing) is missing); build it with 'make debian-image' "
                + "(as root: the project's packages, then qemu/debian-guest base and image)"
        }
    }
}
