import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A private temporary directory; call `remove()` in a `defer`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        var base = NSTemporaryDirectory()
        while base.count > 1, base.hasSuffix("/") { base.removeLast() }
        var template = Array((base + "/genid-ledger-test-XXXXXX").utf8CString)
        guard let created = mkdtemp(&template) else {
            throw CocoaError(.fileWriteUnknown)
        }
        path = String(cString: created)
    }

    func file(_ name: String) -> String { path + "/" + name }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Runs `body(0..<count)` as concurrent tasks and waits for all of them.
/// Each store instance is its own SQLite connection with its own writer
/// queue, so the tasks contend for the file's lock exactly as processes do.
func concurrently(_ count: Int, _ body: @escaping @Sendable (Int) async -> Void) async {
    await withTaskGroup(of: Void.self) { group in
        for index in 0..<count { group.addTask { await body(index) } }
    }
}

/// A lock-protected value shared between test threads.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: Value

    init(_ value: Value) { storage = value }

    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&storage)
    }

    var value: Value { withLock { $0 } }
}

// MARK: - The sqlite3 CLI as a genuinely separate process

let sqlite3Path = "/usr/bin/sqlite3"
let sqlite3Available = FileManager.default.isExecutableFile(atPath: sqlite3Path)

/// Runs `script` through the sqlite3 CLI on `database`; returns its exit
/// status and combined output.
func runSQLite3(_ database: String, _ script: String) throws -> (status: Int32, output: String) {
    let session = try SQLite3Session(database)
    session.send(script)
    return session.finish()
}

/// A sqlite3 CLI process fed line by line, so a test can stop it mid-way
/// (holding a lock, or before being killed).
final class SQLite3Session {
    let process = Process()
    private let input = Pipe()
    private let output = Pipe()

    init(_ database: String) throws {
        process.executableURL = URL(fileURLWithPath: sqlite3Path)
        process.arguments = ["-bail", database]
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        send(".timeout 10000")
    }

    func send(_ lines: String) {
        input.fileHandleForWriting.write(Data((lines + "\n").utf8))
    }

    /// Closes stdin, waits for exit, returns status and output.
    func finish() -> (status: Int32, output: String) {
        try? input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Kills the process with SIGKILL: no cleanup, no clean close of the database.
    func crash() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try? input.fileHandleForWriting.close()
    }
}

/// Waits up to `timeout` seconds for a file to appear.
func waitForFile(_ path: String, timeout: TimeInterval = 10) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if FileManager.default.fileExists(atPath: path) { return true }
        usleep(10_000)
    }
    return false
}

func shellQuoted(_ text: String) -> String {
    "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
