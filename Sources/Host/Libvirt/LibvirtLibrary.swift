import CLibvirt

/// One-time process setup of libvirt, done before the event loop starts.
enum LibvirtLibrary {
    /// `virInitialize()` (required before libvirt is used from several
    /// threads) and a silent global error handler: without one libvirt prints
    /// every error to stderr as well; `LibvirtError` carries it instead.
    static let initialized: Result<Void, LibvirtError> = {
        guard virInitialize() == 0 else { return .failure(.last("initializing libvirt")) }
        virSetErrorFunc(nil, silentErrorHandler)
        return .success(())
    }()
}

private let silentErrorHandler: virErrorFunc = { _, _ in }
