#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// How many connections one server holds at once, in all and per uid, so
/// that no local user can take every descriptor or thread genidd has; and
/// the last `reserved` places only for privileged peers, so that readers
/// from many uids (a user namespace's subuids keep their groups) cannot
/// lock root and the operators out.
final class ConnectionLimits: Sendable {
    let total: Int
    let perUser: Int
    let reserved: Int
    private let open = Mutex<(total: Int, byUser: [UInt32: Int])>((0, [:]))

    init(total: Int, perUser: Int, reserved: Int = 0) {
        self.total = total
        self.perUser = perUser
        self.reserved = min(reserved, total)
    }

    /// Takes a place for `uid` (root counts only against the total), or
    /// says why there is none.
    func admit(uid: UInt32, privileged: Bool = true) -> Result<Admission, Refusal> {
        open.withLock { open in
            guard open.total < total else { return .failure(.full(total)) }
            guard privileged || open.total < total - reserved else { return .failure(.full(total - reserved)) }
            let own = open.byUser[uid, default: 0]
            guard uid == 0 || own < perUser else { return .failure(.userFull(uid, perUser)) }
            open.total += 1
            open.byUser[uid] = own + 1
            return .success(Admission(limits: self, uid: uid))
        }
    }

    fileprivate func release(uid: UInt32) {
        open.withLock { open in
            open.total -= 1
            let own = open.byUser[uid, default: 1] - 1
            open.byUser[uid] = own > 0 ? own : nil
        }
    }

    var current: Int { open.withLock { $0.total } }

    enum Refusal: Error, CustomStringConvertible {
        case full(Int)
        case userFull(UInt32, Int)

        var description: String {
            switch self {
            case .full(let limit): "too many connections (genidd serves \(limit) at once); try again"
            case .userFull(let uid, let limit): "too many connections from uid \(uid) (at most \(limit) at once)"
            }
        }
    }

    /// One admitted connection; `release()` gives its place back, once.
    final class Admission: Sendable {
        private let limits: ConnectionLimits
        private let uid: UInt32
        private let released = Atomic<Bool>(false)

        fileprivate init(limits: ConnectionLimits, uid: UInt32) {
            self.limits = limits
            self.uid = uid
        }

        func release() {
            guard !released.exchange(true, ordering: .acquiringAndReleasing) else { return }
            limits.release(uid: uid)
        }

        deinit { release() }
    }
}

/// What an accept loop does when the process or the system is out of
/// descriptors or memory: the pending connection stays queued, so wait a
/// little (longer while it lasts) and try again; say so once per episode.
struct AcceptBackoff {
    private(set) var failures = 0

    /// Errors that pass when other connections close; anything else means
    /// the listening socket is gone.
    static func isTransient(_ code: Int32) -> Bool {
        [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(code)
    }

    /// Notes a failure; the time to wait before the next accept.
    mutating func failed() -> Duration {
        failures += 1
        return .milliseconds(min(1000, 50 << min(failures - 1, 5)))
    }

    /// Notes a success; true if it ends an episode of failures.
    mutating func succeeded() -> Bool {
        defer { failures = 0 }
        return failures > 0
    }
}
