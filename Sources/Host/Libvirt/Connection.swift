import CLibvirt
import Synchronization

/// A `virConnectPtr`. libvirt connections are thread-safe (libvirt locks
/// internally since 0.6), so sharing the pointer between threads is safe;
/// `Connection` only guards its own open/closed state.
struct ConnectionPointer: @unchecked Sendable {
    let raw: virConnectPtr
}

/// One connection to a libvirt driver, e.g. `qemu:///system` (needs libvirtd)
/// or `test:///default` (libvirt's built-in mock hypervisor, no daemon).
///
/// Close it with `close()`: that deregisters its event callbacks and ends
/// their streams. `Domain` handles stay usable after `close()` (each holds its
/// own reference on the underlying libvirt connection).
public final class Connection: Sendable {
    /// The URI given to `open`.
    public let uri: String
    /// Elements arrive when libvirt reports the connection lost (daemon gone,
    /// keepalive timeout). Ends without an element on `close()`.
    public let closeEvents: AsyncStream<ConnectionCloseReason>

    struct State {
        var pointer: ConnectionPointer?
        var lifecycleCallbacks: [Int32: LifecycleCallbackBox] = [:]
    }
    let state: Mutex<State>
    private let closeBox: CloseCallbackBox

    /// Opens `uri` (starting the event loop first, if needed).
    public static func open(_ uri: String, readOnly: Bool = false) throws(LibvirtError) -> Connection {
        try EventLoop.start()
        let operation = "opening libvirt connection \(uri)\(readOnly ? " read-only" : "")"
        let raw = readOnly ? virConnectOpenReadOnly(uri) : virConnectOpen(uri)
        guard let raw else { throw LibvirtError.last(operation) }
        return Connection(uri: uri, pointer: ConnectionPointer(raw: raw))
    }

    private init(uri: String, pointer: ConnectionPointer) {
        self.uri = uri
        let (stream, continuation) = AsyncStream.makeStream(of: ConnectionCloseReason.self)
        closeEvents = stream
        closeBox = CloseCallbackBox(continuation: continuation)
        state = Mutex(State(pointer: pointer))
        closeBox.register(on: pointer)
    }

    deinit {
        close()
    }

    /// Deregisters this connection's callbacks, ends its event streams and
    /// closes it. Safe to call more than once and from any thread; a call
    /// running on another thread finishes first (it holds a reference).
    public func close() {
        let (pointer, callbacks) = state.withLock { state -> (ConnectionPointer?, [Int32: LifecycleCallbackBox]) in
            defer { state.pointer = nil; state.lifecycleCallbacks = [:] }
            return (state.pointer, state.lifecycleCallbacks)
        }
        guard let pointer else { return }
        for (id, box) in callbacks {
            _ = virConnectDomainEventDeregisterAny(pointer.raw, id)
            box.continuation.finish()
        }
        closeBox.unregister(from: pointer)
        _ = virConnectClose(pointer.raw)
    }

    /// Whether `close()` has been called.
    public var isClosed: Bool {
        state.withLock { $0.pointer == nil }
    }

    /// `virConnectIsAlive`: false once closed, or when libvirt has lost the
    /// peer (for local drivers such as `test://` always true while open).
    public var isAlive: Bool {
        (try? withPointer("checking whether \(uri) is alive") { virConnectIsAlive($0.raw) == 1 }) ?? false
    }

    /// `virConnectSetKeepAlive`: probe the peer every `interval` seconds and
    /// give up after `count` unanswered probes (the loss then arrives on
    /// `closeEvents` as `.keepalive`). Needs the event loop (started by `open`).
    /// Throws `noSupport` for drivers without a remote peer, e.g. `test://`.
    @discardableResult
    public func setKeepAlive(interval: Int32 = 5, count: UInt32 = 3) throws(LibvirtError) -> KeepAliveStatus {
        let operation = "enabling keepalive (every \(interval) s, \(count) probes) on \(uri)"
        return try withPointer(operation) { pointer throws(LibvirtError) in
            switch virConnectSetKeepAlive(pointer.raw, interval, count) {
            case 0: return .enabled
            case 1: return .unsupportedByPeer
            default: throw LibvirtError.last(operation)
            }
        }
    }

    /// The URI libvirt actually connected to (`virConnectGetURI`).
    public func canonicalURI() throws(LibvirtError) -> String {
        let operation = "asking \(uri) for its URI"
        return try withPointer(operation) { pointer throws(LibvirtError) in
            try takeCString(virConnectGetURI(pointer.raw), operation)
        }
    }

    /// The libvirt library version as (major, minor, micro).
    public func libvirtVersion() throws(LibvirtError) -> (major: Int, minor: Int, micro: Int) {
        let operation = "asking \(uri) for the libvirt version"
        return try withPointer(operation) { pointer throws(LibvirtError) in
            var version: UInt = 0
            guard virConnectGetLibVersion(pointer.raw, &version) == 0 else { throw LibvirtError.last(operation) }
            return (Int(version / 1_000_000), Int(version / 1000 % 1000), Int(version % 1000))
        }
    }

    /// Runs `body` with a referenced pointer, so that a concurrent `close()`
    /// cannot free it underneath (`virConnectRef` ... `virConnectClose`).
    func withPointer<T>(
        _ operation: String, _ body: (ConnectionPointer) throws(LibvirtError) -> T
    ) throws(LibvirtError) -> T {
        let pointer = state.withLock { state -> ConnectionPointer? in
            guard let pointer = state.pointer else { return nil }
            _ = virConnectRef(pointer.raw)
            return pointer
        }
        guard let pointer else { throw LibvirtError.closed(uri, operation) }
        defer { _ = virConnectClose(pointer.raw) }
        return try body(pointer)
    }
}

/// Result of `Connection.setKeepAlive`.
public enum KeepAliveStatus: Sendable, Hashable {
    case enabled
    /// The remote side does not support keepalive; the connection still works.
    case unsupportedByPeer
}
