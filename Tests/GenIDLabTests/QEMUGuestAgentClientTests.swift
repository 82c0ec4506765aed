import Foundation
@testable import GenIDLab
import Testing

/// The client against a real QEMU guest agent: Debian's qemu-ga (installed
/// by qemu/setup-host) run on the host, listening on a UNIX socket instead
/// of a virtio-serial port. Its commands run here, so they stay harmless.
@Suite(.serialized) struct QEMUGuestAgentClientTests {
    static let agentPath = "/usr/sbin/qemu-ga"

    /// Starts qemu-ga in a temporary directory, runs `body` with a synced
    /// client, and kills the agent whatever happens.
    private func withAgent(_ body: (QEMUGuestAgentClient) async throws -> Void) async throws {
        try #require(FileManager.default.isExecutableFile(atPath: QEMUGuestAgentClientTests.agentPath),
                     "qemu-ga is missing: run 'sudo qemu/setup-host' (it installs qemu-guest-agent)")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("qga-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let agent = Process()
        agent.executableURL = URL(fileURLWithPath: QEMUGuestAgentClientTests.agentPath)
        agent.arguments = ["-m", "unix-listen", "-p", "\(directory)/agent.sock", "-t", directory, "-f", "\(directory)/pid"]
        agent.standardOutput = FileHandle.nullDevice
        agent.standardError = FileHandle.nullDevice
        try agent.run()
        defer {
            kill(agent.processIdentifier, SIGKILL)
            agent.waitUntilExit()
        }
        var client: QEMUGuestAgentClient?
        for _ in 0..<100 where client == nil {
            client = try? await QEMUGuestAgentClient.connect(unixSocketPath: "\(directory)/agent.sock")
            if client == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        let connected = try #require(client, "qemu-ga did not listen")
        do {
            try await connected.synchronize()
            try await body(connected)
        } catch {
            await connected.close()
            throw error
        }
        await connected.close()
    }

    @Test func runsACommandAndCapturesBothStreamsAndTheStatus() async throws {
        try await withAgent { agent in
            let result = try await agent.run(["/bin/sh", "-c", "echo out; echo err >&2; exit 3"])
            #expect(result == .init(exitCode: 3, signal: nil, standardOutput: "out\n", standardError: "err\n", truncated: false))
            #expect(!result.succeeded)
            let killed = try await agent.run(["/bin/sh", "-c", "kill -9 $$"])
            #expect(killed.signal == 9 && !killed.succeeded)
            let succeeded = try await agent.run(["/bin/true"]).succeeded
            #expect(succeeded)
        }
    }

    /// A second sync on the same connection (as after a revert, which
    /// rewinds the guest's agent) drops whatever came before its answer.
    @Test func synchronizesAgainAndKeepsWorking() async throws {
        try await withAgent { agent in
            try await agent.synchronize()
            try await agent.synchronize()
            let again = try await agent.run(["/bin/echo", "again"])
            #expect(again.standardOutput == "again\n")
        }
    }

    @Test func refusalsAndTimeoutsAreErrors() async throws {
        try await withAgent { agent in
            await #expect(throws: LabError.self) { try await agent.run(["/nonexistent/probe"]) }
            await #expect(throws: LabError.self) {
                try await agent.execute("no-such-command", [String: Int](), as: Int.self)
            }
            let error = await #expect(throws: LabError.self) {
                try await agent.run(["/bin/sleep", "3"], timeout: .milliseconds(300))
            }
            #expect("\(error!)".contains("still runs"))
            // The agent still answers afterwards.
            let after = try await agent.run(["/bin/echo", "ok"])
            #expect(after.standardOutput == "ok\n")
        }
    }
}
