#if canImport(Glibc)
import Glibc
#endif
import SysGenID
import Testing

/// The guest-side VMClock reader on a file laid out like the page
/// `/dev/vmclock0` maps (the kernel's vmclock-abi.h).
@Suite struct VMClockTests {
    func pageFile(magic: UInt32 = VMClock.magic, size: UInt32 = 4096, flags: UInt64, counter: UInt64,
                  marker: UInt64) throws -> String {
        func le(_ value: UInt64, _ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
        var page = [UInt8](repeating: 0, count: 4096)
        page.replaceSubrange(0..<32, with: le(UInt64(magic), 4) + le(UInt64(size), 4) + le(1, 2) + [1, 0]
                                 + le(10, 4) + le(marker, 8) + le(flags, 8))
        page.replaceSubrange(104..<112, with: le(counter, 8))
        let path = "/tmp/vmclock-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o600)
        #expect(fd >= 0)
        _ = page.withUnsafeBytes { write(fd, $0.baseAddress, 4096) }
        close(fd)
        return path
    }

    @Test func readsTheCounterTheHostMaintains() throws {
        let path = try pageFile(flags: VMClock.vmGenerationCounterPresent | 1, counter: 0xfedc_ba98_7654_3210, marker: 42)
        defer { unlink(path) }
        let reading = try VMClock(path: path).read()
        #expect(reading.vmGenerationCounter == 0xfedc_ba98_7654_3210 && reading.disruptionMarker == 42)
        #expect(reading.counterPresent && reading.sequence == 10)
    }

    @Test func aClearFlagSaysTheCounterIsNotMaintained() throws {
        let path = try pageFile(flags: 0, counter: 0, marker: 1)
        defer { unlink(path) }
        #expect(try !VMClock(path: path).read().counterPresent)
    }

    @Test func somethingElseIsRefusedPlainly() throws {
        let path = try pageFile(magic: 0x1234_5678, flags: 0, counter: 0, marker: 0)
        defer { unlink(path) }
        let error = #expect(throws: SysGenIDError.self) { try VMClock(path: path) }
        #expect(error?.errno == .EPROTO && "\(error!)".contains("not a VMClock structure"))
        let missing = #expect(throws: SysGenIDError.self) { try VMClock(path: "/nonexistent/vmclock0") }
        #expect(missing?.errno == .ENOENT)
    }
}
