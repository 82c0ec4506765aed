#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Reads guest-physical memory through /dev/mem.
///
/// Opened without O_SYNC: the kernel already maps the VMGENID page cached
/// (the vmgenid driver memremaps it write-back), and asking for an uncached
/// mapping of the same page fails with EAGAIN, as busybox `devmem` does.
///
/// The descriptor is opened once, on the first read that succeeds in
/// opening it, and kept (close-on-exec: hooks do not get it): a VM-fork
/// line must not find the provider without a descriptor to spare when
/// clients hold many. Reading needs CAP_SYS_RAWIO at open only.
enum PhysicalMemory {
    static let devicePath = "/dev/mem"
    private static let descriptor = Mutex<Int32>(-1)

    private static func openDevice() throws -> Int32 {
        try descriptor.withLock { fd throws(SystemCallError) -> Int32 in
            if fd < 0 {
                fd = open(devicePath, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { throw SystemCallError("open", devicePath) }
            }
            return fd
        }
    }

    static func read(address: UInt64, count: Int) throws -> [UInt8] {
        let pageSize = UInt64(sysconf(Int32(_SC_PAGESIZE)))
        let pageStart = address & ~(pageSize - 1)
        let offsetInPage = Int(address - pageStart)
        let mappedLength = (offsetInPage + count + Int(pageSize) - 1) / Int(pageSize) * Int(pageSize)

        let fd = try openDevice()
        guard let base = mmap(nil, mappedLength, PROT_READ, MAP_SHARED, fd, off_t(pageStart)),
              base != MAP_FAILED
        else { throw SystemCallError("mmap", "\(devicePath) at 0x\(String(pageStart, radix: 16))") }
        defer { munmap(base, mappedLength) }
        let bytes = UnsafeRawBufferPointer(start: base + offsetInPage, count: count)
        return Array(bytes)
    }
}
