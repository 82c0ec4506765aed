#if canImport(Glibc)
import Glibc
#endif

/// A mutex with one condition variable (pthreads), for the few places that
/// block a thread: the provider's state and the conformance suite's helpers.
public final class Monitor: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    public init() {
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        condition.deallocate()
    }

    public func locked<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Call with the lock held (inside `locked`). Returns false on timeout.
    @discardableResult
    public func wait(untilMonotonicNanoseconds deadline: UInt64? = nil) -> Bool {
        guard let deadline else {
            pthread_cond_wait(condition, mutex)
            return true
        }
        var time = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        return pthread_cond_timedwait(condition, mutex, &time) != ETIMEDOUT
    }

    /// Call with the lock held.
    public func broadcast() { pthread_cond_broadcast(condition) }
}

/// CLOCK_MONOTONIC in nanoseconds.
public func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

public func monotonicMilliseconds() -> Int64 { Int64(monotonicNanoseconds() / 1_000_000) }

public func sleepMilliseconds(_ milliseconds: Int) {
    var time = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
    var left = timespec()
    while nanosleep(&time, &left) != 0 && errno == EINTR { time = left }
}

/// A joinable pthread running a closure.
public final class PosixThread: @unchecked Sendable {
    private final class Box { let body: () -> Void; init(_ body: @escaping () -> Void) { self.body = body } }
    public let handle: pthread_t

    /// Starts `body` on a new thread.
    public init(_ body: @escaping @Sendable () -> Void) {
        var handle = pthread_t()
        let box = Unmanaged.passRetained(Box(body))
        let result = pthread_create(&handle, nil, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            box.body()
            return nil
        }, box.toOpaque())
        precondition(result == 0, "pthread_create failed: \(result)")
        self.handle = handle
    }

    /// Starts `body` on a new detached thread.
    public static func detach(_ body: @escaping @Sendable () -> Void) {
        let thread = PosixThread(body)
        pthread_detach(thread.handle)
    }

    public func join() {
        pthread_join(handle, nil)
    }

    public func signal(_ number: Int32) {
        pthread_kill(handle, number)
    }
}

/// A one-shot result slot a background thread fills and another waits on.
public final class Completion<T>: @unchecked Sendable {
    private let monitor = Monitor()
    private var value: T?

    public init() {}

    public func complete(_ result: T) {
        monitor.locked {
            value = result
            monitor.broadcast()
        }
    }

    /// The result, waiting up to `milliseconds` (nil: forever).
    public func wait(milliseconds: Int?) -> T? {
        let deadline = milliseconds.map { monotonicNanoseconds() + UInt64($0) * 1_000_000 }
        return monitor.locked {
            while value == nil {
                if !monitor.wait(untilMonotonicNanoseconds: deadline) { break }
            }
            return value
        }
    }

    public var isComplete: Bool { monitor.locked { value != nil } }
}
