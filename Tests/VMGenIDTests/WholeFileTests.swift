import Testing
@testable import VMGenID

@Suite struct WholeFileTests {
    /// A /proc file answers each read with at most a page: its end is a
    /// read that returns nothing. This process's maps run to many pages,
    /// and the last line is the vsyscall page (or, without it, the stack).
    @Test func aProcFileIsReadToItsEnd() throws {
        let maps = try WholeFile.text("/proc/self/maps")
        let lines = maps.split(separator: "\n")
        #expect(maps.utf8.count > 4096, "the test needs maps longer than a page")
        #expect(lines.last?.hasSuffix("[vsyscall]") == true || maps.contains("[stack]"))
    }

    @Test func aFileLargerThanTheLimitIsRefused() {
        #expect(throws: WholeFile.Failure.tooLarge(path: "/proc/self/maps", limit: 100)) {
            try WholeFile.read("/proc/self/maps", limit: 100)
        }
    }

    @Test func aMissingFileSaysWhy() {
        #expect(throws: WholeFile.Failure.call("open", path: "/nonexistent/file", errno: 2)) {
            try WholeFile.read("/nonexistent/file")
        }
    }
}
