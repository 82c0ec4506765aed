import AgentProtocol
import Foundation
import GenIDHost
import GenIDLab
import SQLiteGenerationStore
import VMGenID
import GuestAgent
import Testing

extension LabIntegration {
    /// The readiness gate genidd will use, against a real guest: the agent
    /// serves genidd's own virtio-serial port beside the lab's, and
    /// `wait-ready` on it returns only once the guest took the new value and
    /// its slowest tracked watcher (here one that takes 2 s) acknowledged it.
    @Suite(.serialized) struct ReadinessGateTests {
        static let ackDelayMilliseconds = 2000

        @Test func waitReadyWaitsForTheSlowestWatcher() async throws {
            let settings = LabSettings()
            let image = try settings.imageBuilder.image(for: "6.1")
            var configuration = MachineConfiguration(image: image)
            configuration.extraAgentPorts = [genidAgentPortName]
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("readiness-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            let ledger = try SQLiteGenerationStore(path: "\(scratch)/ledger.sqlite")

            try await withMachine(configuration, keepConsoleLogAt: "\(settings.buildDirectory)/logs/readiness-gate.console.log") { machine in
                // Both ports answer, each on its own connection.
                try await machine.waitForAgent(timeout: .seconds(90))
                let genidd = try await machine.connectAgent(port: genidAgentPortName, timeout: .seconds(30))
                #expect(try await machine.ask(.ping)["agent"] == "sysgenidd")
                #expect(try await genidd.request(.ping)["agent"] == "sysgenidd")

                // The value at boot was processed at the agent's start: the gate is open.
                let boot = try #require(try await machine.ask(.status)[AgentStatusField.vmgenid])
                let open = try await genidd.request(.waitReady, arguments: WaitReadyArguments(
                    value: boot, timeoutMilliseconds: 5000).arguments, timeout: .seconds(10))
                #expect((open[AgentReadinessField.generationMilliseconds].flatMap { Int($0) } ?? .max) < 1000,
                        "the boot value must already count as processed: \(open.line)")

                // A slow consumer (started through the lab's port: the ports share one agent).
                let started = try await machine.ask(.slowWatcher, arguments: [String(Self.ackDelayMilliseconds)])
                #expect(started[AgentReadinessField.watcher] == "started")
                #expect(started[AgentReadinessField.slowWatchers] == "1")
                let counterBefore = try #require(started[AgentStatusField.sysgenidCounter].flatMap { UInt32($0) })

                let vm = try await machine.attach(name: "lab/readiness-gate")
                try await ledger.record(try await vm.qemuValue(), for: vm.identity, role: .live, event: "boot", detail: nil,
                                        origin: .observed)
                let rotation = try await Rotator(vm: vm, store: ledger).rotate()
                let resumedAt = try #require(rotation.resumedAt)

                // The gate on genidd's port, while ping stays prompt on the same port
                // and a second, impatient gate runs out of time in stage (b).
                let asked = ContinuousClock.now
                async let gate = genidd.request(.waitReady, arguments: WaitReadyArguments(
                    value: rotation.value.description, timeoutMilliseconds: 20000).arguments, timeout: .seconds(30))
                async let impatient: Void = expectRefused(
                    genidd, .waitReady, WaitReadyArguments(value: rotation.value.description, timeoutMilliseconds: 1000).arguments,
                    prefix: "\(agentTimedOutPrefix) watchers")
                try await Task.sleep(for: .milliseconds(200))
                let pingStart = ContinuousClock.now
                _ = try await genidd.request(.ping, timeout: .seconds(2))
                let pingTime = ContinuousClock.now - pingStart
                await impatient
                let ready = try await gate
                let returned = ContinuousClock.now
                let sinceResume = returned - resumedAt
                let sinceAsked = returned - asked
                print("wait-ready: \(ready.line.dropLast()); host: \(sinceResume.milliseconds) ms after cont, "
                      + "\(sinceAsked.milliseconds) ms after the request (rotation \(rotation.totalMilliseconds) ms); "
                      + "ping meanwhile \(pingTime.milliseconds) ms")

                #expect(sinceResume >= .milliseconds(Self.ackDelayMilliseconds),
                        "wait-ready returned \(sinceResume.milliseconds) ms after the guest resumed")
                #expect(pingTime < .seconds(1), "ping took \(pingTime.milliseconds) ms during wait-ready")
                let counterAfter = try #require(ready[AgentStatusField.sysgenidCounter].flatMap { UInt32($0) })
                #expect(counterAfter > counterBefore)
                let generation = try #require(ready[AgentReadinessField.generationMilliseconds].flatMap { Int($0) })
                let elapsed = try #require(ready[AgentSysGenIDField.elapsedMilliseconds].flatMap { Int($0) })
                #expect(generation <= elapsed)
                let status = try await machine.ask(.status)
                #expect(status[AgentStatusField.vmgenid] == rotation.value.description)

                // Settled now: the gate opens at once.
                let again = try await genidd.request(.waitReady, arguments: WaitReadyArguments(
                    value: rotation.value.description, timeoutMilliseconds: 5000).arguments)
                #expect((again[AgentSysGenIDField.elapsedMilliseconds].flatMap { Int($0) } ?? .max) < Self.ackDelayMilliseconds)

                // A value this guest never had: ETIMEDOUT in stage (a).
                let never = UUID().uuidString.lowercased()
                await expectRefused(genidd, .waitReady, WaitReadyArguments(value: never, timeoutMilliseconds: 500).arguments,
                                    prefix: "\(agentTimedOutPrefix) value")
                // Malformed: the usage.
                await expectRefused(genidd, .waitReady, ["not-a-guid", "100"], prefix: "usage: wait-ready")
                await expectRefused(genidd, .slowWatcher, ["soon"], prefix: "usage: slow-watcher")
            }
        }

        private func expectRefused(_ client: AgentClient, _ verb: AgentVerb, _ arguments: [String], prefix: String) async {
            do {
                let response = try await client.request(verb, arguments: arguments, timeout: .seconds(10))
                Issue.record("\(verb.rawValue) \(arguments) answered ok: \(response.line)")
            } catch AgentClientError.refused(_, let message) {
                #expect(message.hasPrefix(prefix), "\(message)")
                print("\(verb.rawValue) \(arguments.joined(separator: " ")): error \(message)")
            } catch {
                Issue.record("\(verb.rawValue) \(arguments): \(error)")
            }
        }
    }
}
