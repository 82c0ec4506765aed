import Foundation

/// A private PostgreSQL server for a scenario: `Tests/postgres-server` of
/// this checkout (its own data directory in the run directory, a Unix
/// socket there and no TCP port), started and stopped on purpose, and
/// removed with the run directory.
final class LabPostgres: Sendable {
    let directory: RunDirectory
    let url: String
    private let script: String

    init(runRoot: String) throws {
        guard let script = repositoryFile("Tests/postgres-server") else {
            throw LabError.missingTool(name: "Tests/postgres-server (run genid-lab from its checkout)",
                                       package: "postgresql-15")
        }
        self.script = script
        directory = try RunDirectory.create(in: runRoot, name: "postgres")
        chmod(directory.path, 0o755)  // the server runs as 'postgres' under root
        chmod(runRoot, 0o755)
        url = "postgres://genid@localhost/genid?host=\(directory.path)/server"
    }

    /// Starts the server (creating it the first time).
    func start() async throws { try await run("start") }

    /// Stops it (fast shutdown: connected clients are cut off).
    func stop() async throws { try await run("stop") }

    /// Stops it and removes its directory.
    func remove() {
        _ = try? Subprocess.run([script, "stop", "\(directory.path)/server"])
        directory.remove()
    }

    /// Through `ChildProcess`, which waits for the script's own exit: the
    /// server it leaves running must not hold anything the lab waits on.
    private func run(_ command: String) async throws {
        let log = "\(directory.path)/\(command).log"
        let child = try ChildProcess.spawn("/bin/bash", arguments: [script, command, "\(directory.path)/server"],
                                           stderrPath: log)
        await runBlocking { child.waitForExit(grace: .seconds(60)) }
        guard child.exitStatus == 0 else {
            throw LabError.commandFailed(command: "postgres-server \(command)", status: child.exitStatus ?? -1,
                                         output: (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
        }
    }
}
