#if canImport(Glibc)
import Glibc
#endif
import Synchronization

extension ConformanceSuite {
    // MARK: chaos and stress

    func testChaos() {
        let threads = 8
        let operations = Int(Double(kind == .device ? 3000 : 600) * stressScale)
        begin("chaos: \(threads) threads, every operation at once")
        let g = current
        let unexpected = Atomic<Int>(0)
        let lastError = Atomic<Int32>(0)
        let provider = self.provider
        let workers = (0..<threads).map { index in
            PosixThread {
                var seed = UInt32(1234 + index)
                var handles: [any SysGenIDTransport] = (0..<4).compactMap { _ in try? provider.openTransport(flags: O_RDWR) }
                guard handles.count == 4 else { unexpected.add(1, ordering: .relaxed); return }
                for _ in 0..<operations {
                    let r = Int(rand_r(&seed))
                    let i = r % 4
                    var good = true
                    var failure: Errno?
                    switch (r >> 2) % 7 {
                    case 0:
                        handles[i].close()
                        if let fresh = try? provider.openTransport(flags: O_RDWR) { handles[i] = fresh } else { good = false }
                    case 1, 2:
                        if case .failure(let e) = handles[i].setTracking(UInt64((r >> 5) & 1)) { good = false; failure = e }
                    case 3:
                        switch handles[i].read(count: 4, nonBlocking: true) {
                        case .success(let value?):
                            if case .failure(let e) = handles[i].acknowledge(value), e != .EINVAL { good = false; failure = e }
                        case .success(nil): good = false
                        case .failure(let e): if e != .EAGAIN { good = false; failure = e }
                        }
                    case 4:
                        if case .failure(let e) = handles[i].poll(timeoutMilliseconds: 0) { good = false; failure = e }
                    case 5:
                        if case .failure(let e) = handles[i].waitWatchers(timeoutMilliseconds: 1), e != .ETIME && e != .EINTR {
                            good = false; failure = e
                        }
                    default:
                        if (r >> 5) % 8 == 0, case .failure(let e) = handles[i].trigger(minimum: 0) { good = false; failure = e }
                    }
                    if !good {
                        unexpected.add(1, ordering: .relaxed)
                        if let failure { lastError.store(failure.code, ordering: .relaxed) }
                    }
                }
                for handle in handles { handle.close() }
            }
        }
        let start = monotonicMilliseconds()
        for worker in workers { worker.join() }
        let count = unexpected.load(ordering: .relaxed)
        expect(count == 0, "no operation failed unexpectedly",
               "\(count) unexpected, last \(Errno(lastError.load(ordering: .relaxed)).name); \(threads) x \(operations) operations in \(monotonicMilliseconds() - start) ms")
        expect(current > g, "the counter moved", "\(g) -> \(current)")
        guard let fd = open(), let t = open() else { return }
        expect(ok(fd.waitWatchers(timeoutMilliseconds: 1000)), "with every handle closed, nothing is outdated")
        expect(ok(t.setTracking(1)) && ok(fd.trigger(minimum: 0)) && ack(fd), "one new tracked watcher, outdated")
        expectError(fd.waitWatchers(timeoutMilliseconds: 100), .ETIME, "it counts")
        expect(ack(t) && ok(fd.waitWatchers(timeoutMilliseconds: 1000)), "and its ack brings the count to 0")
        t.close()
        fd.close()
    }

    func testStress() {
        let threads = 16
        let generations = Int(Double(kind == .device ? 200 : 100) * stressScale)
        begin("stress: \(threads) tracked readers, \(generations) generations")
        guard let m = open() else { return }
        defer { m.close() }
        let stop = Atomic<Bool>(false)
        let mmapBackwards = Atomic<Bool>(false)
        let page = self.page!
        let mmapWatcher = PosixThread {
            var last = page.current
            while !stop.load(ordering: .relaxed) {
                let value = page.current
                if value < last { mmapBackwards.store(true, ordering: .relaxed) }
                last = value
            }
        }
        final class WorkerState: @unchecked Sendable {
            var last: UInt32 = 0, acks = 0, error: Errno?, backwards = false
        }
        let handles = (0..<threads).compactMap { _ in open() }
        guard handles.count == threads else { return }
        let states = handles.map { _ in WorkerState() }
        for handle in handles { _ = handle.setTracking(1) }
        let workers = (0..<threads).map { index in
            PosixThread {
                let handle = handles[index], state = states[index]
                while true {
                    switch handle.poll(timeoutMilliseconds: 100) {
                    case .failure(let e): state.error = e; return
                    case .success(false):
                        if stop.load(ordering: .relaxed) { return }
                        continue
                    case .success(true): break
                    }
                    guard case .success(let value?) = handle.read(count: 4, nonBlocking: false) else {
                        state.error = .EIO; return
                    }
                    switch handle.acknowledge(value) {
                    case .failure(.EINVAL): continue  // moved on since the read
                    case .failure(let e): state.error = e; return
                    case .success: break
                    }
                    if state.acks > 0 && value <= state.last { state.backwards = true }
                    state.last = value
                    state.acks += 1
                }
            }
        }
        let start = monotonicMilliseconds()
        var waitOK = 0
        var firstFailure = ""
        for round in 0..<generations {
            guard ok(m.trigger(minimum: 0)), ack(m) else { firstFailure = "trigger/ack failed in round \(round)"; break }
            switch m.waitWatchers(timeoutMilliseconds: 20000) {
            case .success: waitOK += 1
            case .failure(let e): if firstFailure.isEmpty { firstFailure = "WAIT failed in round \(round): \(e.name)" }
            }
        }
        let final = current
        expect(waitOK == generations, "WAIT_WATCHERS succeeded after every trigger", "\(waitOK)/\(generations) \(firstFailure)")
        expect(ok(m.waitWatchers(timeoutMilliseconds: 5000)), "the outdated count is back to 0")
        stop.store(true, ordering: .relaxed)
        for worker in workers { worker.join() }
        mmapWatcher.join()
        expect(states.allSatisfy { $0.last == final }, "every thread saw and acknowledged the final generation \(final)")
        expect(states.allSatisfy { $0.acks == generations }, "every thread acknowledged each of the \(generations) generations",
               "acks: \(states.map(\.acks).min() ?? 0)...\(states.map(\.acks).max() ?? 0)")
        expect(states.allSatisfy { $0.error == nil }, "no thread hit an error",
               states.compactMap { $0.error?.name }.first ?? "")
        expect(!states.contains { $0.backwards } && !mmapBackwards.load(ordering: .relaxed), "no reader ever saw the counter move down")
        if kind == .device { expect(sysfsGeneration() == Int64(final), "sysfs shows \(final)") }
        for handle in handles { handle.close() }
        expect(ok(m.waitWatchers(timeoutMilliseconds: 1000)), "WAIT returns 0 after the tracked handles closed")
        if let socket = m as? SocketTransport {
            // The provider sees a close when its connection thread reads EOF: allow it a moment.
            var state = try? socket.watchers().get()
            let deadline = monotonicMilliseconds() + 3000
            while let current = state, current.tracked != 0 || current.outdated != 0, monotonicMilliseconds() < deadline {
                sleepMilliseconds(20)
                state = try? socket.watchers().get()
            }
            expect(state.map { $0.tracked == 0 && $0.outdated == 0 } ?? false,
                   "the provider counts no tracked or outdated watcher once the handles closed",
                   state.map { "tracked \($0.tracked), outdated \($0.outdated)" } ?? "watchers failed")
        }
        progress("stress took \(monotonicMilliseconds() - start) ms")
    }
}
