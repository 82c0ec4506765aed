import Foundation
import Testing

/// Kernel/sysgenid/build-all on headers whose toolchain this host lacks:
/// that release is skipped, visibly, and the run does not fail.
@Suite struct BuildAllScriptTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Kernel/sysgenid/build-all").path

    @Test func aKernelWhoseCompilerIsMissingIsSkippedNotFailed() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("build-all-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let headers = root.appendingPathComponent("modules/7.3.4+bpo-amd64/build")
        try FileManager.default.createDirectory(at: headers, withIntermediateDirectories: true)
        try "CONFIG_CC_VERSION_TEXT=\"gcc-99 (Debian 99.1.0-1) 99.1.0\"\n"
            .write(to: headers.appendingPathComponent(".config"), atomically: true, encoding: .utf8)
        try "all:\n\tfalse\n".write(to: headers.appendingPathComponent("Makefile"), atomically: true, encoding: .utf8)

        let output = root.appendingPathComponent("output")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [Self.script]
        process.environment = ["PATH": "/usr/bin:/bin", "MODULES_ROOT": root.appendingPathComponent("modules").path,
                               "OUT": root.appendingPathComponent("out").path]
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        process.waitUntilExit()
        try handle.close()
        let text = try String(contentsOf: output, encoding: .utf8)
        #expect(process.terminationStatus == 0, "\(text)")
        #expect(text.contains("7.3.4+bpo-amd64: SKIPPED (needs gcc-99, not installed here"), "\(text)")
    }
}
