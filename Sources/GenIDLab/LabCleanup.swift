import Foundation
import Synchronization

/// Teardown actions that must run however the lab ends: normal return,
/// error, or Ctrl-C / SIGTERM / SIGHUP. Each running machine registers one
/// (kill QEMU, remove its run directory) and unregisters it once it has
/// shut down on its own.
public final class LabCleanup: Sendable {
    public static let shared = LabCleanup()

    private let actions = Mutex<(next: Int, pending: [Int: @Sendable () -> Void])>((0, [:]))
    // Kept alive for the life of the process; only touched under the lock.
    private nonisolated(unsafe) var signalSources: [any DispatchSourceSignal] = []
    private let signalLock = Mutex(())

    public func register(_ action: @escaping @Sendable () -> Void) -> Int {
        actions.withLock { state in
            state.next += 1
            state.pending[state.next] = action
            return state.next
        }
    }

    public func unregister(_ token: Int) {
        _ = actions.withLock { $0.pending.removeValue(forKey: token) }
    }

    /// Runs every pending action once, newest first.
    public func runAll() {
        let pending = actions.withLock { state in
            defer { state.pending.removeAll() }
            return state.pending.sorted { $0.key > $1.key }.map(\.value)
        }
        for action in pending { action() }
    }

    /// On SIGINT, SIGTERM or SIGHUP: tear everything down, then exit with
    /// 128 + the signal number, as a shell would report it.
    public func installSignalHandlers() {
        for signalNumber in [SIGINT, SIGTERM, SIGHUP] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { [self] in
                FileHandle.standardError.write(Data("genid-lab: signal \(signalNumber), cleaning up\n".utf8))
                runAll()
                exit(128 + signalNumber)
            }
            source.resume()
            signalLock.withLock { _ in signalSources.append(source) }
        }
    }
}
