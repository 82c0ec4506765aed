import GuestAgent
import Foundation
import Testing

extension LabIntegration {
    /// sysgenidctl's verbs against a real userspace provider (sysgenidd on
    /// this host, at private paths): the shell-level consumer end to end.
    @Suite(.serialized) struct SysGenIDCtlTests {
        final class Provider {
            let directory: String
            let daemon = Process()
            var socket: String { "\(directory)/sysgenid.sock" }
            var page: String { "\(directory)/generation" }

            init() throws {
                directory = FileManager.default.temporaryDirectory.appendingPathComponent("sysgenid-\(UUID().uuidString)").path
                // Traversable by anyone whatever the umask: the unprivileged checks run as nobody.
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o755])
                daemon.executableURL = URL(fileURLWithPath: LabProcess.binary("sysgenidd"))
                daemon.arguments = ["--provider", "--no-agent", "--socket", socket, "--page", page]
                daemon.standardError = FileHandle.nullDevice
                try daemon.run()
            }

            func waitUntilListening() async -> Bool {
                for _ in 0..<100 where !FileManager.default.fileExists(atPath: socket) {
                    try? await Task.sleep(for: .milliseconds(50))
                }
                return FileManager.default.fileExists(atPath: socket)
            }

            /// Starts sysgenidctl with `arguments` (COMMAND first) at this provider's paths.
            func start(_ arguments: [String], asNobody: Bool = false, output: String? = nil) throws -> Process {
                let process = Process()
                let tool = LabProcess.binary("sysgenidctl")
                let command = [tool, "--json"] + arguments.prefix(1) + ["--socket", socket, "--page", page]
                    + arguments.dropFirst()
                if asNobody {
                    process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
                    process.arguments = ["--reuid", "65534", "--regid", "65534", "--clear-groups", "--"] + command
                } else {
                    process.executableURL = URL(fileURLWithPath: tool)
                    process.arguments = Array(command.dropFirst())
                }
                if let output {
                    _ = FileManager.default.createFile(atPath: output, contents: nil)
                    process.standardOutput = FileHandle(forWritingAtPath: output)
                } else {
                    process.standardOutput = FileHandle.nullDevice
                }
                process.standardError = FileHandle.nullDevice
                try process.run()
                return process
            }

            /// Runs sysgenidctl to completion: exit status and the JSON it printed.
            func run(_ arguments: [String], asNobody: Bool = false) async throws -> (Int32, String) {
                let output = "\(directory)/out-\(UUID().uuidString)"
                let process = try start(arguments, asNobody: asNobody, output: output)
                await offCooperativePool { process.waitUntilExit() }
                let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
                return (process.terminationStatus, text)
            }

            func stop() {
                kill(daemon.processIdentifier, SIGKILL)  // children of test threads may block SIGTERM
                try? FileManager.default.removeItem(atPath: directory)
            }
        }

        @Test func getTriggerExecAndWaitWatchers() async throws {
            let provider = try Provider()
            defer { provider.stop() }
            #expect(await provider.waitUntilListening(), "sysgenidd never created its socket")

            let (status, text) = try await provider.run(["get"])
            #expect(status == 0)
            #expect(text.contains("\"generation\":0"), "\(text)")

            // A shell consumer: records each generation it is run for.
            let log = "\(provider.directory)/consumer.log"
            let exec = try provider.start(["exec", "--", "/bin/sh", "-c", "echo gen=$SYSGENID_GENERATION >> \(log)"])
            defer { kill(exec.processIdentifier, SIGKILL) }
            try await Task.sleep(for: .seconds(1))

            let trigger = try await provider.run(["trigger", "--min", "5"])
            #expect(trigger.0 == 0, "\(trigger.1)")
            #expect(trigger.1.contains("\"generation\":5"), "\(trigger.1)")
            let waited = try await provider.run(["wait-watchers", "--timeout", "10000"])
            #expect(waited.0 == 0, "wait-watchers: \(waited.1)")
            #expect((try? String(contentsOfFile: log, encoding: .utf8)) == "gen=5\n")

            let again = try await provider.run(["get"])
            #expect(again.1.contains("\"generation\":5"), "\(again.1)")
        }

        @Test func unprivilegedTriggerIsRefusedAndSlowWatchersTimeOut() async throws {
            let provider = try Provider()
            defer { provider.stop() }
            #expect(await provider.waitUntilListening(), "sysgenidd never created its socket")

            let refused = try await provider.run(["trigger"], asNobody: true)
            #expect(refused.0 == 1)
            #expect(try await provider.run(["get"], asNobody: true).1.contains("\"generation\":0"),
                    "unprivileged readers still read; the refused trigger changed nothing")

            // A consumer that takes 3 s to adjust: waiting 0.5 s times out (exit 2).
            let slow = try provider.start(["exec", "--", "/bin/sleep", "3"])
            defer { kill(slow.processIdentifier, SIGKILL) }
            try await Task.sleep(for: .seconds(1))
            #expect(try await provider.run(["trigger"]).0 == 0)
            #expect(try await provider.run(["wait-watchers", "--timeout", "500"]).0 == 2)
            #expect(try await provider.run(["wait-watchers", "--timeout", "10000"]).0 == 0)
        }
    }
}
