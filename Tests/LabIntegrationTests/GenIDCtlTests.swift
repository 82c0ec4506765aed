import GuestAgent
import Foundation
import GenIDLab
import Testing

extension LabIntegration {
    /// genidctl's qemu verbs against a real QEMU booted by the lab (which does
    /// not hold the QMP socket here: QEMU takes one client at a time).
    @Suite(.serialized) struct GenIDCtlTests {
        struct CLI {
            let ledger: String

            func run(_ arguments: [String]) async throws -> (status: Int32, output: String, errors: String) {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: LabProcess.binary("genidctl"))
                process.arguments = arguments
                var environment = ProcessInfo.processInfo.environment
                environment["GENID_LEDGER"] = ledger
                process.environment = environment
                let stdout = Pipe(), stderr = Pipe()
                process.standardOutput = stdout
                process.standardError = stderr
                try process.run()
                return await offCooperativePool {
                    let errors = ErrorCollector(stderr)
                    let output = stdout.fileHandleForReading.readDataToEndOfFile()
                    process.waitUntilExit()
                    return (process.terminationStatus, String(decoding: output, as: UTF8.self), errors.text())
                }
            }

            func json(_ arguments: [String]) async throws -> [String: String] {
                let (status, output, errors) = try await run(arguments + ["--json"])
                #expect(status == 0, "genidctl \(arguments.joined(separator: " ")): \(errors)")
                return (try? JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: String]) ?? [:]
            }
        }

        @Test func snapshotRevertRotateStatusHistory() async throws {
            let settings = LabSettings()
            let image = try settings.imageBuilder.image(for: "6.1")
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("genidctl-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            let cli = CLI(ledger: "\(scratch)/ledger.sqlite")

            try await withMachine(MachineConfiguration(image: image)) { machine in
                try await machine.waitForAgent(timeout: .seconds(90))
                let socket = machine.directory.qmpSocket
                func verb(_ name: String, _ extra: [String]) -> [String] {
                    ["qemu", name, "--qmp", socket, "--name", "vm1"] + extra
                }
                let viaFile = ["--ram-file", machine.directory.ramFile]
                let viaPid = ["--pid", String(await machine.qemuPid)]

                let before = try await cli.json(verb("status", viaFile))
                #expect(before["qemu_value"] != nil && before["qemu_value"] == before["guest_value"])

                #expect(try await cli.run(verb("snapshot", viaFile + ["base"])).status == 0)
                var values: Set<String> = [before["guest_value"]!]
                for _ in 0..<2 {
                    let revert = try await cli.json(verb("revert", viaFile + ["base"]))
                    let value = try #require(revert["value"])
                    #expect(!values.contains(value))
                    values.insert(value)
                    let status = try await cli.json(verb("status", viaPid))
                    #expect(status["guest_value"] == value, "/proc/PID/mem must see what the RAM file got")
                    #expect(status["qemu_value"] == before["qemu_value"], "QEMU's own value does not change")
                    #expect(status["ledger_latest"] == value)
                }
                let rotate = try await cli.json(verb("rotate", viaPid))
                #expect(rotate["event"] == "rotate")
                #expect(!values.contains(rotate["value"] ?? ""))

                // A snapshot that does not exist: a clear error, and the VM is
                // left paused rather than resumed on an unknown state.
                let missing = try await cli.run(verb("revert", viaFile + ["no-such-snapshot"]))
                #expect(missing.status != 0)
                #expect(missing.errors.contains("no-such-snapshot"), "\(missing.errors)")
                #expect(missing.errors.contains("not resumed"), "\(missing.errors)")
                #expect(try await cli.json(verb("status", viaFile))["run_state"] == "paused")

                // Two reverts, one rotation, and the value recorded for the failed
                // revert (never given, never to be reused).
                let history = try await cli.run(["history", "--vm", "vm1", "--check"])
                #expect(history.status == 0)
                #expect(history.output.split(separator: "\n").count == 4)
            }
        }

        @Test func wrongArgumentsAreExplained() async throws {
            let cli = CLI(ledger: "/nonexistent/ledger.sqlite")
            let neither = try await cli.run(["qemu", "status", "--qmp", "/nonexistent.sock"])
            #expect(neither.status != 0)
            #expect(neither.errors.contains("--ram-file"))
            let both = try await cli.run(["qemu", "status", "--qmp", "/x", "--ram-file", "/y", "--pid", "1"])
            #expect(both.errors.contains("not both"))
            let noSocket = try await cli.run(["qemu", "status", "--qmp", "/nonexistent.sock", "--ram-file", "/dev/null"])
            #expect(noSocket.status != 0)
            #expect(!noSocket.errors.isEmpty)
        }
    }
}
