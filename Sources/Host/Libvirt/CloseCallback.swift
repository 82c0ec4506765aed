import CLibvirt

/// Carries `Connection.closeEvents`' continuation through libvirt's close
/// callback. Its only stored property is a Sendable continuation.
///
/// Unlike the lifecycle callbacks, the box is NOT handed to libvirt with a
/// free callback: drivers without a remote peer (e.g. `test://`) accept the
/// registration, store nothing and would never call the free callback, so the
/// box would leak. The `Connection` owns the box instead and unregisters the
/// callback in `close()` (also run by its deinit) before the box can go; libvirt
/// runs the callback and the unregistration under one lock, so no call is in
/// flight once `unregister` has returned.
final class CloseCallbackBox: Sendable {
    let continuation: AsyncStream<ConnectionCloseReason>.Continuation

    init(continuation: AsyncStream<ConnectionCloseReason>.Continuation) {
        self.continuation = continuation
    }

    /// `virConnectRegisterCloseCallback`. A failure only means no close
    /// events, so it is not thrown.
    func register(on pointer: ConnectionPointer) {
        let opaque = Unmanaged.passUnretained(self).toOpaque()
        if virConnectRegisterCloseCallback(pointer.raw, closeTrampoline, opaque, nil) < 0 {
            virResetLastError()
        }
    }

    func unregister(from pointer: ConnectionPointer) {
        if virConnectUnregisterCloseCallback(pointer.raw, closeTrampoline) < 0 { virResetLastError() }
        continuation.finish()
    }
}

private let closeTrampoline: virConnectCloseFunc = { _, reason, opaque in
    guard let opaque else { return }
    let box = Unmanaged<CloseCallbackBox>.fromOpaque(opaque).takeUnretainedValue()
    box.continuation.yield(ConnectionCloseReason(raw: reason))
    box.continuation.finish()
}
