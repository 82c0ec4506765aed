#if canImport(Glibc)
import Glibc
#endif

/// Reading a whole file, /proc and /sys ones included.
public enum WholeFile {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case call(String, path: String, errno: Int32)
        case tooLarge(path: String, limit: Int)
        case notARegularFile(path: String)

        public var description: String {
            switch self {
            case .call(let call, let path, let code): "\(call) \(path): \(String(cString: strerror(code))) (errno \(code))"
            case .tooLarge(let path, let limit): "\(path) holds more than \(limit) bytes"
            case .notARegularFile(let path): "\(path) is not a regular file"
            }
        }
    }

    /// Every byte of the file at `path`, or `.tooLarge` past `limit`. A
    /// /proc file answers each read with at most a page of whole lines, so
    /// only a read that returns nothing is its end (Foundation's
    /// `String(contentsOfFile:)` stops at the first short read: a QEMU's
    /// /proc/PID/maps came back as its first 4 KiB).
    /// `regularOnly`: a file another process made (in a directory it can
    /// write) must be a regular file, not a link, FIFO or device that would
    /// redirect or block the read.
    public static func read(_ path: String, limit: Int = 1 << 20, regularOnly: Bool = false) throws(Failure) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | (regularOnly ? O_NOFOLLOW | O_NONBLOCK : 0))
        guard fd >= 0 else { throw .call("open", path: path, errno: errno) }
        defer { close(fd) }
        var info = stat()
        if regularOnly, fstat(fd, &info) != 0 || (info.st_mode & S_IFMT) != S_IFREG {
            throw .notARegularFile(path: path)
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .call("read", path: path, errno: errno)
            }
            if count == 0 { return bytes }
            guard count <= limit - bytes.count else { throw .tooLarge(path: path, limit: limit) }
            bytes.append(contentsOf: chunk[0..<count])
        }
    }

    /// The file as text (invalid UTF-8 becomes U+FFFD).
    public static func text(_ path: String, limit: Int = 1 << 20) throws(Failure) -> String {
        String(decoding: try read(path, limit: limit), as: UTF8.self)
    }
}
