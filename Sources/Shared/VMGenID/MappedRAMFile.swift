#if canImport(Glibc)
import Glibc
#endif

/// Guest RAM shared with QEMU through a file (`-object
/// memory-backend-file,share=on,mem-path=…`), mapped into this process: the
/// arrangement vhost-user back ends use. Reads and the one write go straight
/// to guest memory.
public final class MappedRAMFile: GuestMemory, @unchecked Sendable {
    // @unchecked: the mapping is fixed for the object's lifetime and freed
    // in deinit; reads may run concurrently, and the rotator writes only
    // while the guest is paused.
    public let layout: GuestRAMLayout
    public let path: String
    private let base: UnsafeMutableRawPointer
    private let size: Int

    /// Maps the whole file. `layout` says which guest-physical ranges live
    /// where in it (from QEMU's memory map: `QEMUMemoryMap.fileLayout`).
    public convenience init(path: String, layout: GuestRAMLayout) throws(VMGenIDError) {
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw .system(call: "open", path: path, errno: errno, message: errorText()) }
        defer { close(fd) }
        try self.init(descriptor: fd, path: path, layout: layout)
    }

    /// Maps the whole file open at `fd` (left open: the caller closes it;
    /// the mapping outlives it), for a caller that checked what it opened.
    public init(descriptor fd: Int32, path: String, layout: GuestRAMLayout) throws(VMGenIDError) {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .system(call: "fstat", path: path, errno: errno, message: errorText()) }
        let size = Int(info.st_size)
        guard size > 0 else { throw .outsideGuestRAM(what: "RAM file \(path) (empty)", address: 0, count: 0) }
        guard let base = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), base != MAP_FAILED else {
            throw .system(call: "mmap", path: path, errno: errno, message: errorText())
        }
        // A layout that reaches past the file would let a read run off the mapping.
        for region in layout.regions {
            let (end, overflow) = region.backingOffset.addingReportingOverflow(region.length)
            guard overflow || end > UInt64(size) else { continue }
            munmap(base, size)
            throw .outsideGuestRAM(what: "layout region beyond the \(size)-byte RAM file",
                                   address: region.guestPhysicalStart, count: Int(clamping: region.length))
        }
        self.path = path
        self.base = base
        self.size = size
        self.layout = layout
    }

    deinit {
        munmap(base, size)
    }

    public func read(at address: UInt64, count: Int) throws(VMGenIDError) -> [UInt8] {
        guard let offset = layout.backingOffset(of: address, count: count) else {
            throw .outsideGuestRAM(what: "read", address: address, count: count)
        }
        return Array(UnsafeRawBufferPointer(start: base + Int(offset), count: count))
    }

    public func write(_ bytes: [UInt8], at offset: Int, in region: SignalRegion) throws(VMGenIDError) {
        let target = try checkedWrite(of: bytes.count, at: offset, in: region)
        bytes.withUnsafeBytes { (base + Int(target.backing)).copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
    }
}

func errorText(_ code: Int32 = errno) -> String {
    String(cString: strerror(code))
}
