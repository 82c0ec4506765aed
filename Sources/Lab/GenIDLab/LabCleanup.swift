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
    /// The signal being handled (0: none), and a semaphore signalled once
    /// its teardown is done.
    private let terminating = Mutex<Int32>(0)
    private let teardownDone = DispatchSemaphore(value: 0)

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
    ///
    /// The main flow may notice the teardown (QEMU gone) and exit first with
    /// its own status; an atexit handler makes that exit wait for the
    /// teardown and report the signal instead.
    public func installSignalHandlers() {
        atexit { LabCleanup.shared.finishTermination() }
        for signalNumber in [SIGINT, SIGTERM, SIGHUP] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { [self] in
                let first = terminating.withLock { current in
                    defer { if current == 0 { current = signalNumber } }
                    return current == 0
                }
                guard first else { return }
                FileHandle.standardError.write(Data("genid-lab: signal \(signalNumber), cleaning up\n".utf8))
                runAll()
                teardownDone.signal()
                exit(128 + signalNumber)
            }
            source.resume()
            signalLock.withLock { _ in signalSources.append(source) }
        }
    }

    /// Runs at exit: while a signal's teardown is under way, wait for it and
    /// leave with that signal's status.
    private func finishTermination() {
        let signalNumber = terminating.withLock { $0 }
        guard signalNumber != 0 else { return }
        teardownDone.wait()
        teardownDone.signal()
        _exit(128 + signalNumber)
    }
}
