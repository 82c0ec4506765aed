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
    case noQEMUGuestAgent(seconds: Double)
    case guestKernelPanicked(line: String)
    /// The hostile-guest scenario could not set up what it plays (the
    /// guest's tables or memory map are not what it expects).
    case hostileGuest(String)

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
        case let .noQEMUGuestAgent(seconds):
            return "the guest's QEMU guest agent did not answer within \(seconds) s on port org.qemu.guest_agent.0: "
                + "install and enable qemu-guest-agent in the guest (Debian: apt install qemu-guest-agent)"
        case let .hostileGuest(message):
            return "hostile-guest: \(message)"
        case let .guestKernelPanicked(line):
            return "the guest's kernel panicked before its agent answered: '\(line.prefix(200))'"
        case let .debianImageMissing(directory, missing):
            return "no Debian guest image in \(directory) (\(missing) is missing); build it with 'make debian-image' "
                + "(as root: the project's packages, then qemu/debian-guest base and image)"
        }
    }
}

extension LabError {
    /// The description in one line, for reports that must say what went
    /// wrong in one line: QEMU's and the console's last words shortened to
    /// the console's last line.
    public var oneLine: String {
        // The kernel's panic line says most; else the last line. "\r\n" is
        // one Character in Swift, hence isNewline rather than "\n".
        func lastLine(_ text: String) -> String {
            let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            return (lines.first { $0.contains("Kernel panic") } ?? lines.last { !$0.isEmpty })
                .map { String($0.prefix(200)) } ?? "nothing"
        }
        switch self {
        case let .qemuExited(status, consoleTail, stderrTail):
            let stderr = stderrTail.trimmingCharacters(in: .whitespacesAndNewlines)
            return "QEMU exited with status \(status) before the guest was ready; "
                + (stderr.isEmpty ? "" : "QEMU said '\(lastLine(stderr))'; ")
                + "the guest's console ended with '\(lastLine(consoleTail))'"
        case let .agentTimeout(seconds, consoleTail):
            return "the guest agent did not answer within \(seconds) s; the guest's console ended with '\(lastLine(consoleTail))'"
        default:
            return description.split(whereSeparator: \.isNewline).joined(separator: " ")
        }
    }
}
