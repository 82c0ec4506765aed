#if canImport(Glibc)
import Glibc
#endif

/// Reads guest-physical memory through /dev/mem.
///
/// Opened without O_SYNC: the kernel already maps the VMGENID page cached
/// (the vmgenid driver memremaps it write-back), and asking for an uncached
/// mapping of the same page fails with EAGAIN, as busybox `devmem` does.
enum PhysicalMemory {
    static let devicePath = "/dev/mem"

    static func read(address: UInt64, count: Int) throws -> [UInt8] {
        let pageSize = UInt64(sysconf(Int32(_SC_PAGESIZE)))
        let pageStart = address & ~(pageSize - 1)
        let offsetInPage = Int(address - pageStart)
        let mappedLength = (offsetInPage + count + Int(pageSize) - 1) / Int(pageSize) * Int(pageSize)

        let fd = open(devicePath, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemCallError("open", devicePath) }
        defer { close(fd) }
        guard let base = mmap(nil, mappedLength, PROT_READ, MAP_SHARED, fd, off_t(pageStart)),
              base != MAP_FAILED
        else { throw SystemCallError("mmap", "\(devicePath) at 0x\(String(pageStart, radix: 16))") }
        defer { munmap(base, mappedLength) }
        let bytes = UnsafeRawBufferPointer(start: base + offsetInPage, count: count)
        return Array(bytes)
    }
}
