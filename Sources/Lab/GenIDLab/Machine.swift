import GuestAgent
import Foundation
import AgentProtocol
import GenIDHost
import GenerationStore
import QMP
import VMGenID
import Synchronization

/// One QEMU guest of the lab, from spawn to teardown.
///
/// Every path ends in `shutdown()` or, on a signal, in the cleanup action
/// registered with `LabCleanup`: QEMU is stopped, and the run directory
/// (sockets, RAM file, disk) removed. QEMU runs under `setpriv --pdeathsig
/// KILL`, so even a SIGKILL of the lab takes QEMU down with it.
public actor Machine {
    public nonisolated let configuration: MachineConfiguration
    public nonisolated let directory: RunDirectory
    public private(set) var qmp: QMPClient?
    public private(set) var agent: AgentClient?
    /// Clients of the extra agent ports (`MachineConfiguration.extraAgentPorts`), by port name.
    public private(set) var extraAgents: [String: AgentClient] = [:]
    /// When QEMU was spawned, for boot timings.
    public let startedAt: ContinuousClock.Instant

    private let process: ChildProcess
    private let cleanupToken: Int
    private var isShutDown = false

    /// Creates the run directory and disk and spawns QEMU. The caller must
    /// call `shutdown()` on every path (`withMachine` does).
    public init(configuration: MachineConfiguration, runRoot: String = RunDirectory.defaultRoot) async throws {
        self.configuration = configuration
        let directory = try RunDirectory.create(in: runRoot, name: "vm")
        self.directory = directory
        do {
            if let backing = configuration.backingDisk {
                try DiskImage.createOverlay(at: directory.disk, on: backing)
            } else if configuration.diskFile == nil {
                try Subprocess.check(["qemu-img", "create", "-q", "-f", "qcow2", directory.disk, "\(configuration.diskMiB)M"])
            }
            let process = try ChildProcess.spawnQEMU(arguments: configuration.qemuArguments(in: directory),
                                                      stderrPath: "\(directory.path)/qemu.stderr")
            self.process = process
        } catch {
            directory.remove()
            throw error
        }
        startedAt = .now
        let process = self.process
        cleanupToken = LabCleanup.shared.register {
            process.killAndWait()
            directory.remove()
        }
    }

    /// Connects to QMP, retrying while QEMU creates its socket.
    public func connectQMP(timeout: Duration = .seconds(15)) async throws -> QMPClient {
        if let qmp { return qmp }
        let deadline = ContinuousClock.now + timeout
        while true {
            try checkRunning()
            do {
                let client = try await QMPClient.connect(unixSocketPath: directory.qmpSocket)
                qmp = client
                return client
            } catch {
                guard ContinuousClock.now < deadline else { throw error }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    /// Lets go of QMP, so that another client (genidctl) can connect: QEMU
    /// serves one at a time. `connectQMP()` connects again.
    public func closeQMP() async {
        await qmp?.close()
        qmp = nil
    }

    /// Waits until the guest agent answers a ping; returns the time from
    /// QEMU's spawn to that answer.
    @discardableResult
    public func waitForAgent(timeout: Duration = .seconds(60)) async throws -> Duration {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            try checkRunning()
            if agent == nil, FileManager.default.fileExists(atPath: directory.agentSocket) {
                agent = try? await AgentClient.connect(unixSocketPath: directory.agentSocket)
            }
            if let agent {
                do {
                    _ = try await agent.request(.ping, timeout: .milliseconds(500))
                    return ContinuousClock.now - startedAt
                } catch AgentClientError.timeout {
                    continue
                }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        try checkRunning()
        throw LabError.agentTimeout(seconds: timeout.seconds, consoleTail: consoleTail())
    }

    /// Connects to the extra agent port `name` and waits until the agent
    /// answers a ping on it (the guest serves it once its port is up).
    public func connectAgent(port name: String, timeout: Duration = .seconds(60)) async throws -> AgentClient {
        guard configuration.extraAgentPorts.contains(name) else {
            throw LabError.agentProtocol("port \(name) is not among the machine's extraAgentPorts")
        }
        let socket = directory.agentSocket(port: name)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            try checkRunning()
            if extraAgents[name] == nil, FileManager.default.fileExists(atPath: socket) {
                extraAgents[name] = try? await AgentClient.connect(unixSocketPath: socket)
            }
            if let client = extraAgents[name] {
                do {
                    _ = try await client.request(.ping, timeout: .milliseconds(500))
                    return client
                } catch AgentClientError.timeout {
                    continue
                }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        try checkRunning()
        throw LabError.agentTimeout(seconds: timeout.seconds, consoleTail: consoleTail())
    }

    /// The host side's view of this machine: its QMP connection, its
    /// shared guest RAM and, with `-device vmclock`, QEMU's vmclock page
    /// (through /proc/PID/mem), for rotations.
    public func attach(name: String) async throws -> AttachedVM {
        let qmp = try await connectQMP()
        let memory = try await GuestMemorySource.sharedFile(directory.ramFile).open(using: qmp)
        return try await AttachedVM.withEverySignal(identity: VMIdentity(name: name), monitor: qmp, memory: memory,
                                                    deviceState: .directory(directory.path), qemuPID: qemuPid)
    }

    /// Asks the agent; fails if the agent is not connected yet.
    public func ask(_ verb: AgentVerb, arguments: [String] = [], timeout: Duration = .seconds(10)) async throws
        -> AgentResponse {
        guard let agent else { throw LabError.agentProtocol("the agent is not connected; call waitForAgent first") }
        return try await agent.request(verb, arguments: arguments, timeout: timeout)
    }

    /// Stops QEMU (QMP quit, then SIGKILL if it lingers), closes the
    /// connections, keeps the console log if asked, removes the run directory.
    public func shutdown(keepConsoleLogAt logPath: String? = nil) async {
        guard !isShutDown else { return }
        isShutDown = true
        if let qmp {
            _ = try? await qmp.execute("quit", timeout: .seconds(3))
            await qmp.close()
        }
        await agent?.close()
        for client in extraAgents.values { await client.close() }
        let process = self.process
        await Task.detached { process.waitForExit(grace: .seconds(5)) }.value
        if let logPath { copyConsoleLog(to: logPath) }
        directory.remove()
        LabCleanup.shared.unregister(cleanupToken)
    }

    /// The last lines the guest printed on its serial console.
    public func consoleTail(lines: Int = 40) -> String {
        guard let data = FileManager.default.contents(atPath: directory.consoleLog) else { return "(no console output)" }
        // The console's lines end in "\r\n", one Character in Swift.
        return String(decoding: data, as: UTF8.self).split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
            .suffix(lines).joined(separator: "\n")
    }

    public var qemuPid: pid_t { process.pid }

    /// Throws `qemuExited` (with the console's and QEMU's last words) if
    /// QEMU is gone: a QMP connection that closed means nothing more.
    func checkRunning() throws {
        if let status = process.exitStatus {
            throw LabError.qemuExited(status: status, consoleTail: consoleTail(), stderrTail: process.stderrTail())
        }
    }

    private func copyConsoleLog(to path: String) {
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                 withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: path)
        try? FileManager.default.copyItem(atPath: directory.consoleLog, toPath: path)
    }
}

/// Boots a machine, runs `body`, and shuts the machine down whatever happens.
public func withMachine<T: Sendable>(_ configuration: MachineConfiguration, runRoot: String = RunDirectory.defaultRoot,
                                     keepConsoleLogAt logPath: String? = nil,
                                     _ body: (Machine) async throws -> T) async throws -> T {
    let machine = try await Machine(configuration: configuration, runRoot: runRoot)
    do {
        let result = try await body(machine)
        await machine.shutdown(keepConsoleLogAt: logPath)
        return result
    } catch {
        await machine.shutdown(keepConsoleLogAt: logPath)
        throw error
    }
}
