import Foundation
import Testing

/// The real genidd binary with a ledger password: `--check-config` and its
/// log show `***`, and warn where the password is exposed.
@Suite("genidd and the ledger password", .enabled(if: PostgresTestServer.available, "no PostgreSQL server (make test starts one)"))
struct GeniddSecretTests {
    let password = PostgresTLSServer.password

    /// genidd as built beside this checkout (`GENID_LAB_BIN`'s directory when set).
    static let genidd: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let lab = ProcessInfo.processInfo.environment["GENID_LAB_BIN"] ?? "\(root)/.build/debug/genid-lab"
        return (lab as NSString).deletingLastPathComponent + "/genidd"
    }()

    /// Runs genidd with `arguments`; its exit status, standard output and error.
    static func genidd(_ arguments: [String], for seconds: Int? = nil) throws -> (Int32, String, String) {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        _ = FileManager.default.createFile(atPath: directory.file("out"), contents: nil)
        _ = FileManager.default.createFile(atPath: directory.file("err"), contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: genidd)
        process.arguments = arguments
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: directory.file("out")))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: directory.file("err")))
        try process.run()
        if let seconds {
            Thread.sleep(forTimeInterval: Double(seconds))
            process.terminate()
        }
        process.waitUntilExit()
        return (process.terminationStatus, try String(contentsOfFile: directory.file("out"), encoding: .utf8),
                try String(contentsOfFile: directory.file("err"), encoding: .utf8))
    }

    @Test func checkConfigShowsNoPasswordAndWarnsOfAReadableFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let config = directory.file("genidd.json")
        try #"{"ledger": "postgres://genid:\#(password)@localhost/genid"}"#
            .write(toFile: config, atomically: true, encoding: .utf8)
        chmod(config, 0o644)
        let (status, output, errors) = try Self.genidd(["--check-config", "--config", config])
        #expect(status == 0, "\(errors)")
        #expect(!output.contains(password) && !errors.contains(password), "\(output)\(errors)")
        #expect(output.contains(#""ledger" : "postgres://genid:***@localhost/genid""#), "\(output)")
        #expect(errors.contains("\(config) holds the ledger password and is mode 644"), "\(errors)")
        #expect(errors.contains("password is in its URL"), "\(errors)")

        // Root's own, 0600: no warning about the file (the URL's still stands).
        chmod(config, 0o600)
        let (_, _, quiet) = try Self.genidd(["--check-config", "--config", config])
        #expect(!quiet.contains("holds the ledger password") || getuid() != 0, "\(quiet)")
    }

    @Test func checkConfigShowsNoPasswordGivenOnTheCommandLine() throws {
        let (status, output, errors) = try Self.genidd(["--check-config", "--config", "/dev/null/none",
                                                        "--ledger", "postgres://genid:\(password)@db.example/genid"])
        // The file does not exist: refused, and the refusal shows no password either.
        #expect(status != 0 && !output.contains(password) && !errors.contains(password), "\(output)\(errors)")
        let empty = try TemporaryDirectory()
        defer { empty.remove() }
        try "{}".write(toFile: empty.file("genidd.json"), atomically: true, encoding: .utf8)
        let (shown, text, warnings) = try Self.genidd(["--check-config", "--config", empty.file("genidd.json"),
                                                       "--ledger", "postgres://genid:\(password)@db.example/genid"])
        #expect(shown == 0 && text.contains("postgres://genid:***@db.example/genid") && !text.contains(password), "\(text)")
        #expect(warnings.contains("password is in its URL") && !warnings.contains(password), "\(warnings)")
    }

    @Test func theDaemonsLogShowsNoPasswordAndWarnsOnce() throws {
        let server = try PostgresTLSServer.shared.get()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try "{}".write(toFile: directory.file("genidd.json"), atomically: true, encoding: .utf8)
        let url = try server.database(owner: "pwuser").replacingOccurrences(of: "pwuser@", with: "pwuser:\(password)@")
            + "sslrootcert=\(server.ca)"
        let (_, output, log) = try Self.genidd(["--config", directory.file("genidd.json"), "--ledger", url,
                                                "--libvirt-uri", "test:///default", "--metrics-address", "none",
                                                "--control-socket", directory.file("genidd.sock")], for: 4)
        #expect(log.contains("genidd starting") && log.contains("pwuser:***@"), "\(log)")
        #expect(!log.contains(password) && !output.contains(password), "\(log)")
        #expect(log.components(separatedBy: "password is in its URL").count == 2, "\(log)")
    }
}
