import Foundation

/// The PostgreSQL server `make test` starts for the tests
/// (`Tests/postgres-server`, its socket directory in
/// `$GENID_TEST_POSTGRES_DIR`), and private ones a test may stop and start.
enum PostgresTestServer {
    /// The shared server's socket directory; nil under `make check`, which
    /// starts none (the PostgreSQL tests then show as skipped).
    static let directory = ProcessInfo.processInfo.environment["GENID_TEST_POSTGRES_DIR"].flatMap {
        $0.isEmpty ? nil : $0
    }

    static var available: Bool { directory != nil }

    /// The script that starts and stops servers, in this checkout.
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("postgres-server").path

    /// A new, empty database on the server in `directory`; its URL.
    static func createDatabase(in directory: String) throws -> (name: String, url: String) {
        let name = "genid_test_" + UUID().uuidString.prefix(8).lowercased()
        try run("/usr/bin/psql", "-h", directory, "-U", "genid", "-d", "genid", "-qc", "CREATE DATABASE \(name)")
        return (name, "postgres://genid@localhost/\(name)?host=\(directory)")
    }

    static func dropDatabase(_ name: String, in directory: String) {
        _ = try? run("/usr/bin/psql", "-h", directory, "-U", "genid", "-d", "genid", "-qc",
                 "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    /// Starts (creating if new) a private server in `directory`, with the
    /// script's `options` (`--tcp PORT`, `--ssl DIR`, `--hba FILE`); its URL.
    /// Its parent is made searchable: as root the server runs as 'postgres'.
    @discardableResult
    static func start(_ directory: String, _ options: String...) throws -> String {
        chmod((directory as NSString).deletingLastPathComponent, 0o755)
        return try run(script, ["start", directory] + options).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func stop(_ directory: String) throws {
        try run(script, "stop", directory)
    }

    /// The postmaster's PID of the server in `directory`.
    static func serverPID(_ directory: String) throws -> pid_t {
        let text = try String(contentsOfFile: directory + "/data/postmaster.pid", encoding: .utf8)
        guard let pid = text.split(separator: "\n").first.flatMap({ pid_t($0) }) else {
            throw CocoaError(.fileReadCorruptFile)
        }
        return pid
    }

    struct Failed: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs `executable` and returns its output. The output goes through a
    /// file, not a pipe: a server started by the command would inherit the
    /// pipe and hold it open, and reading it to its end would never return.
    @discardableResult
    static func run(_ executable: String, _ arguments: String...) throws -> String {
        try run(executable, arguments)
    }

    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) throws -> String {
        let log = NSTemporaryDirectory() + "/genid-test-run-" + UUID().uuidString
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: log) }
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = output
        try process.run()
        process.waitUntilExit()
        try output.close()
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        guard process.terminationStatus == 0 else {
            throw Failed(description: "\(executable) \(arguments.joined(separator: " ")) exited "
                + "\(process.terminationStatus): \(text)")
        }
        return text
    }
}
