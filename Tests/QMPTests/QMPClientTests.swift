import Foundation
import NIOCore
import NIOPosix
import Testing
@testable import QMP

/// The client against a scripted fake QMP server on a real UNIX socket.
@Suite("QMPClient against a fake server")
struct QMPClientTests {
    @Test func handshakeReadsGreetingAndNegotiatesCapabilities() async throws {
        try await withFakeServer { server in
            let connecting = Task { try await QMPClient.connect(unixSocketPath: server.path, timeout: .seconds(5)) }
            let peer = try await server.nextPeer()
            try await peer.send(FakePeer.greeting)
            let negotiation = try await peer.readCommand()
            #expect(negotiation.name == "qmp_capabilities")
            #expect(negotiation.arguments == nil)
            #expect(negotiation.id != nil)
            try await peer.reply(to: negotiation)
            let client = try await connecting.value
            #expect("\(client.greeting.version)" == "7.2.0")
            #expect(client.greeting.version == .init(major: 7, minor: 2, micro: 0))
            #expect(client.greeting.package == "Debian 1:7.2+dfsg-7")
            #expect(client.greeting.capabilities == ["oob"])
            #expect(client.socketPath == server.path)
            await client.close()
            #expect(try await peer.waitForClientClose())
        }
    }

    @Test func commandReturnsItsValue() async throws {
        try await withFakeServer { server in
            let (client, peer) = try await connectClient(to: server)
            let result = Task { try await client.execute("query-status") }
            let command = try await peer.readCommand()
            #expect(command.name == "query-status")
            #expect(command.arguments == nil)
            try await peer.reply(to: command, ["running": false, "singlestep": false, "status": "prelaunch"])
            let value = try await result.value
            #expect(value["status"]?.stringValue == "prelaunch")
            #expect(value["running"]?.boolValue == false)
            await client.close()
        }
    }

    @Test func argumentsAreSentAndTypedResultIsDecoded() async throws {
        struct Status: Decodable, Equatable {
            var running: Bool
            var status: String
        }
        try await withFakeServer { server in
            let (client, peer) = try await connectClient(to: server)
            let status = Task { try await client.execute("query-status", arguments: ["verbose": true, "n": 3], as: Status.self) }
            let command = try await peer.readCommand()
            #expect(command.arguments == ["verbose": true, "n": 3])
            try await peer.reply(to: command, ["running": true, "status": "running"])
            #expect(try await status.value == Status(running: true, status: "running"))

            let wrongShape = Task { try await client.execute("query-status", as: Status.self) }
            try await peer.reply(to: try await peer.readCommand(), "not an object")
            let error = await #expect(throws: QMPError.self) { try await wrongShape.value }
            guard case .unexpectedReturn(let name, _, _)? = error else {
                Issue.record("unexpected error \(String(describing: error))")
                return
            }
            #expect(name == "query-status")
            await client.close()
        }
    }

    @Test func commandErrorBecomesCommandFailed() async throws {
        try await withFakeServer { server in
            let (client, peer) = try await connectClient(to: server)
            let result = Task { try await client.execute("query-vm-generation-id") }
            let command = try await peer.readCommand()
            try await peer.replyError(to: command, class: "GenericError", desc: "VM Generation ID device not found")
            await #expect(throws: QMPError.commandFailed(command: "query-vm-generation-id", errorClass: "GenericError",
                                                         description: "VM Generation ID device not found")) {
                try await result.value
            }
            // The connection is still usable.
            let next = Task { try await client.execute("query-status") }
            try await peer.reply(to: try await peer.readCommand(), ["status": "running"])
            #expect(try await next.value["status"] == "running")
            await client.close()
        }
    }

    @Test func humanMonitorCommandReturnsText() async throws {
        try await withFakeServer { server in
            let (client, peer) = try await connectClient(to: server)
            let text = Task { try await client.humanMonitorCommand("info status") }
            let command = try await peer.readCommand()
            #expect(command.name == "human-monitor-command")
            #expect(command.arguments == ["command-line": "info status"])
            try await peer.reply(to: command, "VM status: paused (prelaunch)\r\n")
            #expect(try await text.value == "VM status: paused (prelaunch)\r\n")
            await client.close()
        }
    }

    @Test func eventsBeforeAndAfterFirstCommandAreDelivered() async throws {
        try await withFakeServer { server in
            let (client, peer) = try await connectClient(to: server)
            // Sent before any command and before anyone iterates `events`.
            try await peer.sendEvent("RESUME")
            let result = Task { try await client.execute("stop") }
            let command = try await peer.readCommand()
            try await peer.sendEvent("STOP", data: ["reason": "user"])
            try await peer.reply(to: command)
            _ = try await result.value

            let events = client.events
            let received = try await withTimeout(.seconds(5), "two events") {
                var names: [QMPEvent] = []
                for await event in events {
                    names.append(event)
                    if names.count == 2 { break }
                }
                return names
            }
            #expect(received.map(\.name) == ["RESUME", "STOP"])
            #expect(received[0].data == .object([:]))
            #expect(received[1].data["reason"] == "user")
            #expect(received[1].timestamp == .init(seconds: 1_700_000_000, microseconds: 123_456))
            await client.close()
        }
    }

    @Test func waitForEventSeesEventsAfterTheMarkAndMatchesThePredicate() async throws {
        try await withFakeServer { server in
            let (client, peer) = try await connectClient(to: server)
            let mark = client.eventMark()
            // The event arrives before the reply, hence before anyone waits for it.
            let result = Task { try await client.execute("stop") }
            let command = try await peer.readCommand()
            try await peer.sendEvent("STOP")
            try await peer.reply(to: command)
            _ = try await result.value
            let stop = try await client.waitForEvent(named: "STOP", after: mark, timeout: .seconds(2))
            #expect(stop.name == "STOP")

            // Without a mark only later events count; the predicate filters.
            let deleted = Task {
                try await client.waitForEvent(named: "DEVICE_DELETED", timeout: .seconds(5)) {
                    $0.data["device"] == "vgid1"
                }
            }
            try await Task.sleep(for: .milliseconds(100))
            try await peer.sendEvent("DEVICE_DELETED", data: ["device": "vgid0"])
            try await peer.sendEvent("DEVICE_DELETED", data: ["device": "vgid1"])
            #expect(try await deleted.value.data["device"] == "vgid1")

            // `events` saw all of them too.
            var iterator = client.events.makeAsyncIterator()
            var names: [String] = []
            for _ in 0..<3 { names.append(await iterator.next()?.name ?? "end") }
            #expect(names == ["STOP", "DEVICE_DELETED", "DEVICE_DELETED"])
            await client.close()
        }
    }

    @Test func waitForEventTimesOut() async throws {
        try await withFakeServer { server in
            let (client, _) = try await connectClient(to: server)
            await #expect(throws: QMPError.eventTimeout(event: "SHUTDOWN", seconds: 0.2)) {
                try await client.waitForEvent(named: "SHUTDOWN", timeout: .milliseconds(200))
            }
            await client.close()
        }
    }

    @Test func unansweredCommandTimesOutAndItsLateReplyIsDropped() async throws {
        try await withFakeServer { server in
            let (client, peer) = try await connectClient(to: server)
            let start = ContinuousClock.now
            let slow = Task { try await client.execute("query-status", timeout: .milliseconds(300)) }
            let ignored = try await peer.readCommand()
            await #expect(throws: QMPError.timeout(command: "query-status", seconds: 0.3)) { try await slow.value }
            #expect(ContinuousClock.now - start < .seconds(3))

            let next = Task { try await client.execute("query-name") }
            let command = try await peer.readCommand()
            try await peer.reply(to: ignored, ["status": "late"])  // dropped
            try await peer.reply(to: command, ["name": "vm0"])
            #expect(try await next.value == ["name": "vm0"])
            await client.close()
        }
    }

    @Test func serverClosingMidCommandFailsItPromptly() async throws {
        try await withFakeServer { server in
            let (client, peer) = try await connectClient(to: server)
            let events = client.events
            async let eventsEnded: Bool = withTimeout(.seconds(5), "events to finish") {
                for await _ in events {}
                return true
            }
            let start = ContinuousClock.now
            let result = Task { try await client.execute("query-status", timeout: .seconds(30)) }
            _ = try await peer.readCommand()
            await peer.close()
            await #expect(throws: QMPError.connectionClosed(command: "query-status")) { try await result.value }
            #expect(ContinuousClock.now - start < .seconds(2))
            #expect(try await eventsEnded)
            // Later calls fail at once too.
            await #expect(throws: QMPError.connectionClosed(command: "query-name")) {
                try await client.execute("query-name")
            }
            await #expect(throws: QMPError.connectionClosed(command: nil)) {
                try await client.waitForEvent(named: "STOP")
            }
            await client.close()
        }
    }

    @Test func closeFailsPendingCommandsAndIsIdempotent() async throws {
        try await withFakeServer { server in
            let (client, peer) = try await connectClient(to: server)
            let first = Task { try await client.execute("query-status") }
            let waiting = Task { try await client.waitForEvent(named: "STOP") }
            _ = try await peer.readCommand()
            await client.close()
            await client.close()
            await #expect(throws: QMPError.connectionClosed(command: "query-status")) { try await first.value }
            await #expect(throws: QMPError.connectionClosed(command: nil)) { try await waiting.value }
            await #expect(throws: QMPError.connectionClosed(command: "cont")) { try await client.execute("cont") }
            #expect(try await peer.waitForClientClose())
        }
    }

    @Test func concurrentCommandsAreMatchedById() async throws {
        try await withFakeServer { server in
            let (client, peer) = try await connectClient(to: server)
            let a = Task { try await client.execute("a") }
            let b = Task { try await client.execute("b") }
            let c = Task { try await client.execute("c") }
            var commands: [ReceivedCommand] = []
            for _ in 0..<3 { commands.append(try await peer.readCommand()) }
            #expect(Set(commands.compactMap(\.id)).count == 3)
            for command in commands.reversed() {
                try await peer.reply(to: command, .string(command.name))
            }
            #expect(try await [a.value, b.value, c.value] == ["a", "b", "c"])
            await client.close()
        }
    }

    @Test func replyWithoutIdCompletesTheOldestCommand() async throws {
        try await withFakeServer { server in
            let (client, peer) = try await connectClient(to: server)
            let result = Task { try await client.execute("query-status") }
            _ = try await peer.readCommand()
            try await peer.send(#"{"error": {"class": "GenericError", "desc": "JSON parse error, invalid keyword"}}"#)
            await #expect(throws: QMPError.commandFailed(command: "query-status", errorClass: "GenericError",
                                                         description: "JSON parse error, invalid keyword")) {
                try await result.value
            }
            // A stray reply with neither a known id nor any command waiting is ignored.
            let mark = client.eventMark()
            try await peer.send(#"{"return": {}, "id": 9999}"#)
            try await peer.send(#"{"return": {}}"#)
            try await peer.sendEvent("SYNC")
            try await client.waitForEvent(named: "SYNC", after: mark, timeout: .seconds(5))
            let next = Task { try await client.execute("query-name") }
            try await peer.reply(to: try await peer.readCommand(), ["name": "ok"])
            #expect(try await next.value["name"] == "ok")
            await client.close()
        }
    }

    @Test func malformedReplyFailsTheCommandWithoutCrashing() async throws {
        try await withFakeServer { server in
            let (client, peer) = try await connectClient(to: server)
            let result = Task { try await client.execute("query-status") }
            _ = try await peer.readCommand()
            try await peer.send("this is { not json")
            let error = await #expect(throws: QMPError.self) { try await result.value }
            guard case .malformedMessage(let text, _)? = error else {
                Issue.record("unexpected error \(String(describing: error))")
                return
            }
            #expect(text == "this is { not json")
            // Garbage with no command waiting is ignored; the connection goes on.
            let mark = client.eventMark()
            try await peer.send("[1, 2, 3]")
            try await peer.sendRaw([0xFF, 0xFE, 0x7B, 0x0A])
            try await peer.sendEvent("SYNC")
            try await client.waitForEvent(named: "SYNC", after: mark, timeout: .seconds(5))
            let next = Task { try await client.execute("query-name") }
            try await peer.reply(to: try await peer.readCommand(), ["name": "ok"])
            #expect(try await next.value["name"] == "ok")
            await client.close()
        }
    }

    @Test func overlongMessageClosesTheConnection() async throws {
        try await withFakeServer { server in
            let connecting = Task {
                try await QMPClient.connect(
                    unixSocketPath: server.path, timeout: .seconds(5), eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
                    logger: .init(label: "test"), maximumMessageLength: 1024)
            }
            let peer = try await server.nextPeer()
            try await peer.handshake()
            let client = try await connecting.value
            let result = Task { try await client.execute("query-status") }
            _ = try await peer.readCommand()
            try await peer.send(#"{"return": ""# + String(repeating: "x", count: 4000) + #""}"#)
            let error = await #expect(throws: QMPError.self) { try await result.value }
            guard case .malformedMessage(let text, let reason)? = error else {
                Issue.record("unexpected error \(String(describing: error))")
                return
            }
            #expect(reason.contains("longer than 1024"))
            #expect(text.count < 300)
            #expect(try await peer.waitForClientClose())
            await #expect(throws: QMPError.connectionClosed(command: "cont")) { try await client.execute("cont") }
            await client.close()
        }
    }

    @Test func nonQMPGreetingIsRejected() async throws {
        try await withFakeServer { server in
            let connecting = Task { try await QMPClient.connect(unixSocketPath: server.path, timeout: .seconds(5)) }
            let peer = try await server.nextPeer()
            try await peer.send("QEMU 7.2.0 monitor - type 'help' for more information")
            let error = await #expect(throws: QMPError.self) { try await connecting.value }
            guard case .notQMPGreeting(let received)? = error else {
                Issue.record("unexpected error \(String(describing: error))")
                return
            }
            #expect(received.hasPrefix("QEMU 7.2.0 monitor"))
            #expect(try await peer.waitForClientClose())
        }
    }

    @Test func jsonThatIsNotAGreetingIsRejected() async throws {
        try await withFakeServer { server in
            let connecting = Task { try await QMPClient.connect(unixSocketPath: server.path, timeout: .seconds(5)) }
            let peer = try await server.nextPeer()
            try await peer.send(#"{"return": {}}"#)
            await #expect(throws: QMPError.notQMPGreeting(received: #"{"return": {}}"#)) { try await connecting.value }
        }
    }

    @Test func silentPeerGivesNoGreetingError() async throws {
        try await withFakeServer { server in
            let start = ContinuousClock.now
            let path = server.path
            let connecting = Task { try await QMPClient.connect(unixSocketPath: path, timeout: .milliseconds(300)) }
            _ = try await server.nextPeer()
            await #expect(throws: QMPError.noGreeting(path: path, seconds: 0.3)) { try await connecting.value }
            // The 0.3 s timeout fired rather than a hang (a loaded CI machine takes seconds).
            #expect(ContinuousClock.now - start < .seconds(30))
        }
    }

    @Test func peerClosingBeforeGreetingIsAConnectionFailure() async throws {
        try await withFakeServer { server in
            let path = server.path
            let connecting = Task { try await QMPClient.connect(unixSocketPath: path, timeout: .seconds(5)) }
            let peer = try await server.nextPeer()
            await peer.close()
            let error = await #expect(throws: QMPError.self) { try await connecting.value }
            guard case .connectionFailed(path, nil, _)? = error else {
                Issue.record("unexpected error \(String(describing: error))")
                return
            }
        }
    }

    @Test func refusedCapabilitiesAreReported() async throws {
        try await withFakeServer { server in
            let connecting = Task { try await QMPClient.connect(unixSocketPath: server.path, timeout: .seconds(5)) }
            let peer = try await server.nextPeer()
            try await peer.send(FakePeer.greeting)
            let command = try await peer.readCommand()
            try await peer.replyError(to: command, class: "CommandNotFound", desc: "Capabilities negotiation is already complete, command ignored")
            await #expect(throws: QMPError.capabilitiesNegotiationFailed(
                reason: "CommandNotFound: Capabilities negotiation is already complete, command ignored")) {
                try await connecting.value
            }
        }
    }

    @Test func missingSocketFailsWithENOENT() async throws {
        let directory = try FakeQMPServer.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/absent.sock"
        let error = await #expect(throws: QMPError.self) {
            try await QMPClient.connect(unixSocketPath: path, timeout: .seconds(1))
        }
        guard case .connectionFailed(path, ENOENT?, _)? = error else {
            Issue.record("unexpected error \(String(describing: error))")
            return
        }
        #expect(error!.description.contains("does not exist"))

        // A plain file is no listener.
        _ = FileManager.default.createFile(atPath: path, contents: Data())
        let refused = await #expect(throws: QMPError.self) {
            try await QMPClient.connect(unixSocketPath: path, timeout: .seconds(1))
        }
        guard case .connectionFailed(path, ECONNREFUSED?, _)? = refused else {
            Issue.record("unexpected error \(String(describing: refused))")
            return
        }
        let tooLong = "/tmp/" + String(repeating: "p", count: 200)
        await #expect(throws: QMPError.connectionFailed(
            path: tooLong, errno: nil, description: "the path is too long for a UNIX socket address (107 bytes at most)")) {
            try await QMPClient.connect(unixSocketPath: tooLong, timeout: .seconds(1))
        }
        // Retrying gives up at the deadline with the last error: not before
        // it, and not never (the upper bound only says it returned; a loaded
        // machine may take seconds, so it proves no timing).
        let start = ContinuousClock.now
        await #expect(throws: QMPError.self) {
            try await QMPClient.connect(unixSocketPath: path, retryUntil: .now + .milliseconds(300))
        }
        let elapsed = ContinuousClock.now - start
        #expect(elapsed >= .milliseconds(200) && elapsed < .seconds(60))
    }

    @Test func retryConnectsOnceTheSocketAppears() async throws {
        let directory = try FakeQMPServer.makeTemporaryDirectory()
        let path = directory + "/late.sock"
        let connecting = Task {
            try await QMPClient.connect(unixSocketPath: path, retryUntil: .now + .seconds(10), timeout: .seconds(5))
        }
        try await Task.sleep(for: .milliseconds(300))
        let server = try await FakeQMPServer.start(at: path)
        do {
            let peer = try await server.nextPeer()
            try await peer.handshake()
            let client = try await connecting.value
            #expect("\(client.greeting.version)" == "7.2.0")
            await client.close()
        } catch {
            await server.shutdown()
            throw error
        }
        await server.shutdown()
        #expect(!FileManager.default.fileExists(atPath: directory))
    }

    @Test func cancellingAWaitingCommandThrowsCancellationError() async throws {
        try await withFakeServer { server in
            let (client, peer) = try await connectClient(to: server)
            let task = Task { try await client.execute("query-status", timeout: .seconds(30)) }
            _ = try await peer.readCommand()
            let start = ContinuousClock.now
            task.cancel()
            await #expect(throws: CancellationError.self) { try await task.value }
            #expect(ContinuousClock.now - start < .seconds(2))
            await client.close()
        }
    }

    @Test func nonFiniteArgumentsAreRejectedBeforeSending() async throws {
        try await withFakeServer { server in
            let (client, _) = try await connectClient(to: server)
            let error = await #expect(throws: QMPError.self) {
                try await client.execute("set-speed", arguments: ["value": .double(.nan)])
            }
            guard case .invalidArguments("set-speed", _)? = error else {
                Issue.record("unexpected error \(String(describing: error))")
                return
            }
            await client.close()
        }
    }
}
