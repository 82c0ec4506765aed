import CLibvirt

/// A failed libvirt call, copied from `virGetLastError()` right after the call
/// (libvirt keeps the last error per thread, so every wrapper that can fail is
/// synchronous: no suspension point between the call and the copy).
///
/// `domain == .none` means the failure was detected by this wrapper, not by
/// libvirt (a closed `Connection`, malformed XML given to `DomainXML`).
public struct LibvirtError: Error, Sendable, Hashable, CustomStringConvertible {
    /// libvirt's `virErrorNumber` (`VIR_ERR_*`).
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        init<C: RawRepresentable>(_ constant: C) where C.RawValue: BinaryInteger {
            rawValue = Int32(truncatingIfNeeded: constant.rawValue)
        }

        public static let ok = Code(VIR_ERR_OK)
        public static let internalError = Code(VIR_ERR_INTERNAL_ERROR)
        public static let noSupport = Code(VIR_ERR_NO_SUPPORT)
        public static let noConnect = Code(VIR_ERR_NO_CONNECT)
        public static let invalidConnection = Code(VIR_ERR_INVALID_CONN)
        public static let invalidDomain = Code(VIR_ERR_INVALID_DOMAIN)
        public static let invalidArgument = Code(VIR_ERR_INVALID_ARG)
        public static let operationFailed = Code(VIR_ERR_OPERATION_FAILED)
        public static let operationInvalid = Code(VIR_ERR_OPERATION_INVALID)
        public static let operationDenied = Code(VIR_ERR_OPERATION_DENIED)
        public static let operationUnsupported = Code(VIR_ERR_OPERATION_UNSUPPORTED)
        public static let accessDenied = Code(VIR_ERR_ACCESS_DENIED)
        public static let authFailed = Code(VIR_ERR_AUTH_FAILED)
        public static let authUnavailable = Code(VIR_ERR_AUTH_UNAVAILABLE)
        public static let systemError = Code(VIR_ERR_SYSTEM_ERROR)
        public static let xmlError = Code(VIR_ERR_XML_ERROR)
        public static let xmlDetail = Code(VIR_ERR_XML_DETAIL)
        public static let noDomain = Code(VIR_ERR_NO_DOMAIN)
        public static let noDomainSnapshot = Code(VIR_ERR_NO_DOMAIN_SNAPSHOT)
        public static let domainExists = Code(VIR_ERR_DOM_EXIST)

        public var description: String { "VIR_ERR #\(rawValue)" }
    }

    /// libvirt's `virErrorDomain` (`VIR_FROM_*`): which part of libvirt failed.
    public struct Domain: RawRepresentable, Hashable, Sendable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        init<C: RawRepresentable>(_ constant: C) where C.RawValue: BinaryInteger {
            rawValue = Int32(truncatingIfNeeded: constant.rawValue)
        }

        /// Not from libvirt: detected by this wrapper.
        public static let none = Domain(VIR_FROM_NONE)
        public static let test = Domain(VIR_FROM_TEST)
        public static let qemu = Domain(VIR_FROM_QEMU)
        public static let remote = Domain(VIR_FROM_REMOTE)
        public static let rpc = Domain(VIR_FROM_RPC)
        public static let domain = Domain(VIR_FROM_DOMAIN)
        public static let domainSnapshot = Domain(VIR_FROM_DOMAIN_SNAPSHOT)
    }

    public let code: Code
    public let domain: Domain
    /// libvirt's own message (already names the domain, file or element).
    public let message: String
    /// What genid asked libvirt to do, e.g. "looking up domain 'web' on test:///default".
    public let operation: String

    public init(code: Code, domain: Domain, message: String, operation: String) {
        self.code = code
        self.domain = domain
        self.message = message
        self.operation = operation
    }

    /// The calling thread's last libvirt error, then cleared. Call it on the
    /// thread of the failed call, before any other libvirt call.
    static func last(_ operation: String) -> LibvirtError {
        defer { virResetLastError() }
        guard let error = virGetLastError() else {
            return LibvirtError(
                code: .internalError, domain: .none,
                message: "libvirt reported a failure but left no error message", operation: operation)
        }
        let message = error.pointee.message.map { String(cString: $0) } ?? "no message"
        return LibvirtError(
            code: Code(rawValue: error.pointee.code), domain: Domain(rawValue: error.pointee.domain),
            message: message, operation: operation)
    }

    /// A use of a `Connection` after `close()`.
    static func closed(_ uri: String, _ operation: String) -> LibvirtError {
        LibvirtError(
            code: .invalidConnection, domain: .none,
            message: "the connection to \(uri) is closed; open a new Connection", operation: operation)
    }

    public var description: String {
        var text = "\(operation) failed: \(message)"
        if let hint { text += " (\(hint))" }
        return text
    }

    /// What a person can do about it, when the code says enough.
    public var hint: String? {
        switch code {
        case .noDomain:
            return "no such domain; `virsh list --all` shows the defined domains"
        case .noDomainSnapshot:
            return "no such snapshot; `virsh snapshot-list DOMAIN` shows the domain's snapshots"
        case .noConnect:
            return "is libvirtd running (`systemctl start libvirtd`, or `virtlogd -d; libvirtd -d`) and is the URI right?"
        case .systemError where operation.hasPrefix("opening"):
            return "is libvirtd running (`systemctl start libvirtd`, or `virtlogd -d; libvirtd -d`) and is the URI right?"
        case .authFailed, .authUnavailable, .accessDenied, .operationDenied:
            return "permission denied; run as root or as a member of the `libvirt` group"
        case .operationInvalid:
            return "the domain is not in a state that allows this; check `virsh domstate DOMAIN`"
        case .noSupport, .operationUnsupported:
            return "this libvirt driver or hypervisor does not support it"
        case .xmlError, .xmlDetail:
            return "libvirt rejected the XML; fix the element the message names"
        case .domainExists:
            return "a domain with that name or UUID already exists; undefine it or pick another name"
        default:
            return nil
        }
    }
}
