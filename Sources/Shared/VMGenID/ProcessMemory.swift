#if canImport(Glibc)
import Glibc
#endif

/// Guest RAM reached through `/proc/<QEMU pid>/mem`, for guests whose RAM is
/// not shared. The layout's backing offsets are QEMU's host virtual
/// addresses (from the HMP command `gpa2hva`, asked by the caller).
public final class ProcessMemory: GuestMemory, Sendable {
    public let layout: GuestRAMLayout
    public let pid: Int32
    private let path: String

    public init(pid: Int32, layout: GuestRAMLayout) {
        self.pid = pid
        self.layout = layout
        self.path = "/proc/\(pid)/mem"
    }

    public func read(at address: UInt64, count: Int) throws(VMGenIDError) -> [UInt8] {
        guard let hostAddress = layout.backingOffset(of: address, count: count) else {
            throw .outsideGuestRAM(what: "read", address: address, count: count)
        }
        var bytes = [UInt8](repeating: 0, count: count)
        let done = try withFile(O_RDONLY) { fd in
            bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(Int64(bitPattern: hostAddress))) }
        }
        guard done == count else {
            throw .system(call: "pread", path: path, errno: errno, message: done < 0 ? errorText() : "short read")
        }
        return bytes
    }

    public func write(_ bytes: [UInt8], at offset: Int, in region: SignalRegion) throws(VMGenIDError) {
        let hostAddress = try checkedWrite(of: bytes.count, at: offset, in: region).backing
        let done = try withFile(O_RDWR) { fd in
            bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, bytes.count, off_t(Int64(bitPattern: hostAddress))) }
        }
        guard done == bytes.count else {
            throw .system(call: "pwrite", path: path, errno: errno, message: done < 0 ? errorText() : "short write")
        }
    }

    private func withFile(_ flags: Int32, _ body: (Int32) -> Int) throws(VMGenIDError) -> Int {
        let fd = open(path, flags | O_CLOEXEC)
        guard fd >= 0 else { throw .system(call: "open", path: path, errno: errno, message: errorText()) }
        defer { close(fd) }
        return body(fd)
    }
}
