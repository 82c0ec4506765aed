import CLibvirt
import Foundation
import Synchronization

/// libvirt's default event loop, run on one dedicated thread for the life of
/// the process.
///
/// Events (lifecycle, close callback, keepalive) are only delivered while the
/// loop runs, and libvirt requires the implementation to be registered before
/// the first connection is opened. `Connection.open` calls `start()`; call it
/// yourself earlier if you open connections some other way. libvirt cannot
/// unregister the default implementation, so the thread is never stopped.
public enum EventLoop {
    /// Registers the default implementation (exactly once per process) and
    /// starts the loop thread. Later calls return at once.
    public static func start() throws(LibvirtError) {
        try started.get()
    }

    /// Whether `start()` has succeeded.
    public static var isRunning: Bool {
        runningFlag.load(ordering: .acquiring)
    }

    /// The last failure of one loop iteration, if any (the loop keeps going).
    public static var lastIterationError: LibvirtError? {
        lastError.withLock { $0 }
    }

    private static let runningFlag = Atomic<Bool>(false)
    private static let lastError = Mutex<LibvirtError?>(nil)

    /// A `static let` is initialized once, thread-safely (swift_once): that is
    /// the "exactly once" of `virEventRegisterDefaultImpl`.
    private static let started: Result<Void, LibvirtError> = {
        if case .failure(let error) = LibvirtLibrary.initialized { return .failure(error) }
        guard virEventRegisterDefaultImpl() == 0 else {
            return .failure(.last("registering libvirt's default event loop"))
        }
        // A Thread, not a dispatch worker: the loop blocks in poll() forever.
        let thread = Thread {
            while true {
                if virEventRunDefaultImpl() < 0 {
                    let error = LibvirtError.last("running one iteration of libvirt's event loop")
                    lastError.withLock { $0 = error }
                    usleep(100_000)  // do not spin if poll() keeps failing
                }
            }
        }
        thread.name = "libvirt-events"
        thread.start()
        runningFlag.store(true, ordering: .releasing)
        return .success(())
    }()
}
