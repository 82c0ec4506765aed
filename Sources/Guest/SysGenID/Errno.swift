#if canImport(Glibc)
import Glibc
#endif

/// An errno value with its symbolic name (`EAGAIN`), as the device and the
/// userspace provider report it. The provider's socket protocol carries
/// names, not numbers, so both sides agree even across architectures.
public struct Errno: Error, Hashable, Sendable, CustomStringConvertible {
    public let code: Int32

    public init(_ code: Int32) { self.code = code }

    /// The calling thread's current errno.
    public static var current: Errno { Errno(errno) }

    public static let EPERM = Errno(1)
    public static let ENOENT = Errno(2)
    public static let ESRCH = Errno(3)
    public static let EINTR = Errno(4)
    public static let EIO = Errno(5)
    public static let EBADF = Errno(9)
    public static let EAGAIN = Errno(11)
    public static let ENOMEM = Errno(12)
    public static let EACCES = Errno(13)
    public static let EFAULT = Errno(14)
    public static let EEXIST = Errno(17)
    public static let ENODEV = Errno(19)
    public static let EINVAL = Errno(22)
    public static let ENOTTY = Errno(25)
    public static let EPIPE = Errno(32)
    public static let ERANGE = Errno(34)
    public static let ENOSYS = Errno(38)
    public static let ETIME = Errno(62)
    public static let EPROTO = Errno(71)
    public static let EOVERFLOW = Errno(75)
    public static let ENOBUFS = Errno(105)
    public static let ENOTCONN = Errno(107)
    public static let ETIMEDOUT = Errno(110)
    public static let ECONNREFUSED = Errno(111)
    public static let ECONNRESET = Errno(104)

    /// Linux x86-64/arm64 numbering (the generic table), names as in errno.h.
    static let names: [(Int32, String)] = [
        (1, "EPERM"), (2, "ENOENT"), (3, "ESRCH"), (4, "EINTR"), (5, "EIO"), (6, "ENXIO"), (7, "E2BIG"),
        (8, "ENOEXEC"), (9, "EBADF"), (10, "ECHILD"), (11, "EAGAIN"), (12, "ENOMEM"), (13, "EACCES"),
        (14, "EFAULT"), (16, "EBUSY"), (17, "EEXIST"), (19, "ENODEV"), (20, "ENOTDIR"), (21, "EISDIR"),
        (22, "EINVAL"), (23, "ENFILE"), (24, "EMFILE"), (25, "ENOTTY"), (28, "ENOSPC"), (30, "EROFS"),
        (32, "EPIPE"), (34, "ERANGE"), (38, "ENOSYS"), (62, "ETIME"), (71, "EPROTO"), (75, "EOVERFLOW"),
        (88, "ENOTSOCK"), (95, "EOPNOTSUPP"), (98, "EADDRINUSE"), (104, "ECONNRESET"), (105, "ENOBUFS"),
        (107, "ENOTCONN"), (110, "ETIMEDOUT"), (111, "ECONNREFUSED"),
    ]

    /// `EAGAIN`, or `E<number>` for a code outside the table.
    public var name: String {
        Errno.names.first { $0.0 == code }?.1 ?? "E\(code)"
    }

    /// Parses a name (`EAGAIN`) or the `E<number>` fallback form.
    public init?(name: some StringProtocol) {
        if let entry = Errno.names.first(where: { $0.1 == name }) {
            self.code = entry.0
        } else if name.hasPrefix("E"), let number = Int32(name.dropFirst()), number > 0 {
            self.code = number
        } else {
            return nil
        }
    }

    /// The C library's message for this code.
    public var message: String { String(cString: strerror(code)) }

    public var description: String { "\(name) (\(code))" }
}

/// A failed sysgenid operation: which one, on what, and the errno it got.
public struct SysGenIDError: Error, Equatable, Sendable, CustomStringConvertible {
    public var errno: Errno
    public var operation: String
    public var path: String?
    public var detail: String?

    public init(_ errno: Errno, _ operation: String, path: String? = nil, detail: String? = nil) {
        self.errno = errno
        self.operation = operation
        self.path = path
        self.detail = detail
    }

    public var description: String {
        var text = operation
        if let path { text += " \(path)" }
        text += ": \(errno.name) (errno \(errno.code), \(errno.message))"
        if let detail { text += ": \(detail)" }
        return text
    }
}
