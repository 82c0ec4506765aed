import Foundation

extension Machine {
    /// Connects to the QEMU guest agent on the machine's
    /// `org.qemu.guest_agent.0` port (`extraAgentPorts` must name it) and
    /// waits until it answers a sync. The caller closes the client.
    public func connectQEMUGuestAgent(timeout: Duration) async throws -> QEMUGuestAgentClient {
        let name = QEMUGuestAgentClient.portName
        guard configuration.extraAgentPorts.contains(name) else {
            throw LabError.invalidArgument("the machine has no \(name) port (MachineConfiguration.extraAgentPorts)")
        }
        let socket = directory.agentSocket(port: name)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            try checkRunning()
            if let panic = kernelPanicLine() { throw LabError.guestKernelPanicked(line: panic) }
            if let client = try? await QEMUGuestAgentClient.connect(unixSocketPath: socket) {
                do {
                    try await client.synchronize(timeout: min(.seconds(1), max(deadline - .now, .milliseconds(100))))
                    return client
                } catch {
                    await client.close()
                }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        try checkRunning()
        throw LabError.noQEMUGuestAgent(seconds: timeout.seconds)
    }

    /// The kernel's panic line, if the console's last few KiB hold one: a
    /// guest that panicked without `panic=` never exits, and would
    /// otherwise be waited for until the timeout.
    func kernelPanicLine() -> String? {
        guard let file = FileHandle(forReadingAtPath: directory.consoleLog) else { return nil }
        defer { try? file.close() }
        let size = (try? file.seekToEnd()) ?? 0
        try? file.seek(toOffset: size > 8192 ? size - 8192 : 0)
        let text = String(decoding: (try? file.readToEnd()) ?? Data(), as: UTF8.self)
        return text.split(whereSeparator: \.isNewline).first { $0.contains("Kernel panic - not syncing") }
            .map { $0.trimmingCharacters(in: .whitespaces) }
    }
}
