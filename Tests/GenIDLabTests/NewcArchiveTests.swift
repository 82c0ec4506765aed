import Foundation
import Testing
@testable import GenIDLab

@Suite struct NewcArchiveTests {
    /// The archive is read back by the real cpio(1), as the kernel would.
    @Test func cpioListsAndExtractsWhatWasWritten() throws {
        var archive = NewcArchive()
        archive.addDirectory("bin")
        archive.addFile("bin/tool", contents: Array("#!/bin/sh\necho hi\n".utf8), mode: 0o755)
        archive.addFile("odd-length-name", contents: [1, 2, 3])
        archive.addSymlink("bin/sh", target: "tool")
        archive.finish()
        #expect(archive.bytes.count % 4 == 0)

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("newc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let archivePath = directory.appendingPathComponent("test.cpio").path
        try Data(archive.bytes).write(to: URL(fileURLWithPath: archivePath))

        let listing = try Subprocess.check(["sh", "-c", "cpio -it --quiet < '\(archivePath)'"])
        #expect(listing.split(separator: "\n") == ["bin", "bin/tool", "odd-length-name", "bin/sh"])

        let extracted = directory.appendingPathComponent("out").path
        try FileManager.default.createDirectory(atPath: extracted, withIntermediateDirectories: true)
        try Subprocess.check(["sh", "-c", "cd '\(extracted)' && cpio -id --quiet < '\(archivePath)'"])
        #expect(FileManager.default.contents(atPath: "\(extracted)/odd-length-name") == Data([1, 2, 3]))
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(extracted)/bin/sh") == "tool")
        #expect(FileManager.default.isExecutableFile(atPath: "\(extracted)/bin/tool"))
    }

    @Test func archivesAreReproducible() {
        func make() -> [UInt8] {
            var archive = NewcArchive()
            archive.addFile("a", contents: [1])
            archive.finish()
            return archive.bytes
        }
        #expect(make() == make())
    }
}
