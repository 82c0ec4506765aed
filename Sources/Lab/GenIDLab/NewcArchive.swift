/// A cpio archive in the "newc" format the kernel unpacks as initramfs.
///
/// Written here rather than by cpio(1) so that the archive is byte-for-byte
/// reproducible (no host uids, mtimes or inode numbers leak in).
public struct NewcArchive {
    public private(set) var bytes: [UInt8] = []
    private var nextInode: UInt32 = 1

    public init() {}

    public mutating func addDirectory(_ path: String, mode: UInt32 = 0o755) {
        append(path: path, mode: 0o040000 | mode, contents: [])
    }

    public mutating func addFile(_ path: String, contents: [UInt8], mode: UInt32 = 0o644) {
        append(path: path, mode: 0o100000 | mode, contents: contents)
    }

    public mutating func addSymlink(_ path: String, target: String) {
        append(path: path, mode: 0o120777, contents: Array(target.utf8))
    }

    /// Ends the archive with the trailer entry.
    public mutating func finish() {
        append(path: "TRAILER!!!", mode: 0, contents: [], inode: 0)
    }

    private mutating func append(path: String, mode: UInt32, contents: [UInt8], inode: UInt32? = nil) {
        let name = Array(path.utf8) + [0]
        let fields: [UInt32] = [
            inode ?? nextInode, mode, 0, 0, 1, 0,  // ino, mode, uid, gid, nlink, mtime
            UInt32(contents.count), 0, 0, 0, 0,   // filesize, devmajor, devminor, rdevmajor, rdevminor
            UInt32(name.count), 0,                // namesize, check
        ]
        if inode == nil { nextInode += 1 }
        bytes += Array("070701".utf8)
        for field in fields { bytes += hex8(field) }
        bytes += name
        padToFour()
        bytes += contents
        padToFour()
    }

    private mutating func padToFour() {
        while bytes.count % 4 != 0 { bytes.append(0) }
    }

    private func hex8(_ value: UInt32) -> [UInt8] {
        let digits = Array("0123456789ABCDEF".utf8)
        return (0..<8).reversed().map { digits[Int((value >> (UInt32($0) * 4)) & 0xf)] }
    }
}
