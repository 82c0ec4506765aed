import CLibvirt

/// Carries one lifecycle stream's continuation through libvirt. Handed to
/// libvirt retained (`Unmanaged.passRetained`) and released by libvirt's free
/// callback once the registration is gone. Its only stored property is a
/// Sendable continuation.
final class LifecycleCallbackBox: Sendable {
    let continuation: AsyncStream<DomainLifecycleEvent>.Continuation

    init(continuation: AsyncStream<DomainLifecycleEvent>.Continuation) {
        self.continuation = continuation
    }
}

extension Connection {
    /// Lifecycle events of every domain on this connection
    /// (`virConnectDomainEventRegisterAny`, `VIR_DOMAIN_EVENT_ID_LIFECYCLE`),
    /// and guest resets (`VIR_DOMAIN_EVENT_ID_REBOOT`, as `Kind.reset`), from
    /// now on, in libvirt's order. Each call registers its own callbacks;
    /// the stream ends on `close()`, and cancelling (or dropping) the stream
    /// deregisters them.
    public func lifecycleEvents(
        bufferingPolicy: AsyncStream<DomainLifecycleEvent>.Continuation.BufferingPolicy = .unbounded
    ) throws(LibvirtError) -> AsyncStream<DomainLifecycleEvent> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: DomainLifecycleEvent.self, bufferingPolicy: bufferingPolicy)
        let box = LifecycleCallbackBox(continuation: continuation)
        let lifecycle = try register(box, "domain lifecycle events") { connection, opaque in
            clibvirt_register_lifecycle_callback(connection, lifecycleTrampoline, opaque, releaseLifecycleBox)
        }
        let reset: Int32
        do {
            reset = try register(box, "guest reset events") { connection, opaque in
                clibvirt_register_reboot_callback(connection, resetTrampoline, opaque, releaseLifecycleBox)
            }
        } catch {
            deregisterLifecycleCallback(lifecycle)
            throw error
        }
        continuation.onTermination = { [weak self] _ in
            self?.deregisterLifecycleCallback(lifecycle)
            self?.deregisterLifecycleCallback(reset)
        }
        return stream
    }

    /// One `virConnectDomainEventRegisterAny` for `box`; its callback id.
    private func register(
        _ box: LifecycleCallbackBox, _ what: String,
        _ call: (virConnectPtr, UnsafeMutableRawPointer) -> Int32
    ) throws(LibvirtError) -> Int32 {
        let continuation = box.continuation
        let operation = "registering for \(what) on \(uri)"
        return try withPointer(operation) { pointer throws(LibvirtError) -> Int32 in
            let opaque = Unmanaged.passRetained(box).toOpaque()
            let id = call(pointer.raw, opaque)
            guard id >= 0 else {
                // libvirt does not call the free callback when registration fails.
                Unmanaged<LifecycleCallbackBox>.fromOpaque(opaque).release()
                throw LibvirtError.last(operation)
            }
            let stored = state.withLock { state -> Bool in
                guard state.pointer != nil else { return false }
                state.lifecycleCallbacks[id] = box
                return true
            }
            if !stored {  // close() ran meanwhile: undo (our reference keeps the pointer valid)
                _ = virConnectDomainEventDeregisterAny(pointer.raw, id)
                continuation.finish()
            }
            return id
        }
    }

    private func deregisterLifecycleCallback(_ id: Int32) {
        // close() empties the table before finishing the streams, so this is a
        // no-op there; the lock is not held across libvirt calls.
        let registered = state.withLock { $0.lifecycleCallbacks.removeValue(forKey: id) != nil }
        guard registered else { return }
        try? withPointer("deregistering lifecycle callback \(id)") { pointer in
            if virConnectDomainEventDeregisterAny(pointer.raw, id) < 0 { virResetLastError() }
        }
    }
}

/// Runs on the event loop thread. The domain pointer is only borrowed for the
/// duration of the call.
private let lifecycleTrampoline: virConnectDomainEventCallback = { _, domain, event, detail, opaque in
    guard let opaque, let domain else { return 0 }
    let box = Unmanaged<LifecycleCallbackBox>.fromOpaque(opaque).takeUnretainedValue()
    let name = virDomainGetName(domain).map { String(cString: $0) } ?? ""
    let uuid = domainUUIDString(domain) ?? ""
    box.continuation.yield(DomainLifecycleEvent(domainName: name, domainUUID: uuid, type: event, detail: detail))
    return 0
}

/// The same for a guest reset (`VIR_DOMAIN_EVENT_ID_REBOOT`).
private let resetTrampoline: virConnectDomainEventGenericCallback = { _, domain, opaque in
    guard let opaque, let domain else { return }
    let box = Unmanaged<LifecycleCallbackBox>.fromOpaque(opaque).takeUnretainedValue()
    let name = virDomainGetName(domain).map { String(cString: $0) } ?? ""
    let uuid = domainUUIDString(domain) ?? ""
    box.continuation.yield(DomainLifecycleEvent(domainName: name, domainUUID: uuid, kind: .reset))
}

private let releaseLifecycleBox: virFreeCallback = { opaque in
    guard let opaque else { return }
    let box = Unmanaged<LifecycleCallbackBox>.fromOpaque(opaque).takeRetainedValue()
    box.continuation.finish()
}

/// `virDomainGetUUIDString`, lower-cased; nil on failure.
func domainUUIDString(_ domain: virDomainPtr) -> String? {
    withUnsafeTemporaryAllocation(of: CChar.self, capacity: Int(VIR_UUID_STRING_BUFLEN)) { buffer in
        guard let base = buffer.baseAddress, virDomainGetUUIDString(domain, base) == 0 else {
            virResetLastError()
            return nil
        }
        return String(cString: base).lowercased()
    }
}
