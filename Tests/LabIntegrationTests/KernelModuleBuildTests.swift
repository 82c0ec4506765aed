import Foundation
import GenIDLab
import Testing

extension LabIntegration {
    /// Kernel/sysgenid/build-all on Debian 13's real 7.x headers (the
    /// newer stack's root, which `make test` makes): on this Debian 12 host
    /// they are skipped, visibly, and the run succeeds; in the root, whose
    /// toolchain they name, the module builds without a warning.
    @Suite(.serialized) struct KernelModuleBuildTests {
        static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path

        @Test func realSevenXHeadersAreSkippedHereAndBuiltInTheNewerRoot() throws {
            let root = ProcessInfo.processInfo.environment["GENID_NEWER_ROOT"] ?? GuestKernel.newerStackRoot
            let sources = try FileManager.default.contentsOfDirectory(atPath: "\(root)/usr/src")
            let headers = try #require(sources.first { $0.hasPrefix("linux-headers-7.") && $0.hasSuffix("-amd64") },
                                       "no 7.x headers in \(root)/usr/src (qemu/newer-stack build installs them)")
            let release = String(headers.dropFirst("linux-headers-".count))
            let scratch = "\(Self.repository)/build/test-modules-\(UUID().uuidString.prefix(8))"
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            try FileManager.default.createDirectory(atPath: "\(scratch)/modules/\(release)", withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: "\(scratch)/modules/\(release)/build",
                                                       withDestinationPath: "\(root)/usr/src/\(headers)")

            // The host, as if those headers were installed here.
            let here = try run(["Kernel/sysgenid/build-all"],
                               environment: ["MODULES_ROOT": "\(scratch)/modules", "OUT": "\(scratch)/host"])
            #expect(here.status == 0, "\(here.output)")
            #expect(here.output.contains("\(release): SKIPPED (needs x86_64-linux-gnu-gcc-14"), "\(here.output)")
            #expect(!FileManager.default.fileExists(atPath: "\(scratch)/host/\(release)/sysgenid.ko"))

            // The newer root, with its own toolchain.
            let there = try run(["qemu/newer-stack", "run", "env", "OUT=\(scratch)/root", "Kernel/sysgenid/build-all",
                                 release], environment: [:])
            #expect(there.status == 0, "\(there.output)")
            #expect(there.output.contains("\(release): ok") && there.output.contains("(0 warnings)"), "\(there.output)")
            #expect(FileManager.default.fileExists(atPath: "\(scratch)/root/\(release)/sysgenid.ko"))
        }

        private func run(_ arguments: [String], environment: [String: String]) throws -> (status: Int32, output: String) {
            let output = FileManager.default.temporaryDirectory.appendingPathComponent("build-all-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: output) }
            _ = FileManager.default.createFile(atPath: output.path, contents: nil)
            let handle = try FileHandle(forWritingTo: output)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "\(Self.repository)/\(arguments[0])")
            process.arguments = Array(arguments.dropFirst())
            process.currentDirectoryURL = URL(fileURLWithPath: Self.repository)
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
            let status = LabProcess.waitForExit(process)
            try handle.close()
            return (status, try String(contentsOf: output, encoding: .utf8))
        }
    }
}
