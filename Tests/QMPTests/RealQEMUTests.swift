import Foundation
import Testing
import QMP

/// Smoke test against a real QEMU (no guest is run: `-S`, TCG, no disks).
/// `make test` installs QEMU; `QMP_TEST_QEMU` names another binary.
@Suite("QMPClient against real QEMU") struct RealQEMUTests {
    @Test(.timeLimit(.minutes(1)))
    func smoke() async throws {
        let binary = ProcessInfo.processInfo.environment["QMP_TEST_QEMU"] ?? "/usr/bin/qemu-system-x86_64"
        let directory = try FakeQMPServer.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/qmp.sock"
        let qemu = Process()
        qemu.executableURL = URL(fileURLWithPath: binary)
        qemu.arguments = ["-machine", "q35,accel=tcg", "-nodefaults", "-display", "none", "-S",
                          "-device", "vmgenid,id=vgid0",
                          "-chardev", "socket,id=qmp,path=\(path),server=on,wait=off",
                          "-mon", "chardev=qmp,mode=control"]
        try qemu.run()
        // SIGKILL, not terminate(): a child started from a Swift concurrency thread inherits
        // its blocked signal mask, SIGTERM included, and QEMU then ignores SIGTERM.
        // No waitUntilExit() either: it can hang on Linux; Foundation reaps the child.
        defer { if qemu.isRunning { kill(qemu.processIdentifier, SIGKILL) } }

        let client = try await QMPClient.connect(unixSocketPath: path, retryUntil: .now + .seconds(10))
        #expect(client.greeting.version.major >= 7)

        let status = try await client.execute("query-status")
        #expect(status["status"] == "prelaunch")
        #expect(status["running"] == false)

        struct GenerationID: Decodable { var guid: String }
        let before = try await client.execute("query-vm-generation-id", as: GenerationID.self)
        #expect(UUID(uuidString: before.guid) != nil)
        #expect(try await client.execute("qom-get", arguments: ["path": "/machine/peripheral/vgid0",
                                                                 "property": "guid"]) == .string(before.guid))

        #expect(try await client.humanMonitorCommand("info status") == "VM status: paused (prelaunch)\r\n")

        let error = await #expect(throws: QMPError.self) { try await client.execute("no-such-command") }
        guard case .commandFailed("no-such-command", "CommandNotFound", _)? = error else {
            Issue.record("unexpected \(String(describing: error))")
            return
        }

        // QEMU emits RESUME and STOP before the reply to cont and stop.
        let mark = client.eventMark()
        try await client.execute("cont")
        try await client.waitForEvent(named: "RESUME", after: mark, timeout: .seconds(5))
        try await client.execute("stop")
        try await client.waitForEvent(named: "STOP", after: mark, timeout: .seconds(5))

        // One client per monitor: a second one gets no greeting.
        await #expect(throws: QMPError.noGreeting(path: path, seconds: 1)) {
            try await QMPClient.connect(unixSocketPath: path, timeout: .seconds(1))
        }

        let quitMark = client.eventMark()
        do {
            try await client.execute("quit")
        } catch QMPError.connectionClosed {
            // QEMU may exit before its reply is read.
        }
        // Found in the history even once the connection has closed.
        let shutdown = try await client.waitForEvent(named: "SHUTDOWN", after: quitMark, timeout: .seconds(10))
        #expect(shutdown.data["reason"] == "host-qmp-quit")
        var names: [String] = []
        for await event in client.events { names.append(event.name) }  // finishes at EOF
        #expect(names == ["RESUME", "STOP", "SHUTDOWN"])
        await #expect(throws: QMPError.connectionClosed(command: "query-status")) {
            try await client.execute("query-status")
        }
        await client.close()
    }
}
