#if canImport(Glibc)
import Glibc
#endif
import AgentProtocol
import Synchronization
import SysGenID

/// Three consumers of the active provider that run for the agent's whole
/// life, one of each kind a real program would be: a blocking `read()` loop,
/// a `poll()` loop and an mmap watcher. Each records the last generation it
/// saw and when (CLOCK_MONOTONIC), so the lab can check from inside the
/// guest that every kind of reader sees every change (`status` fields
/// `reader_blocking`, `reader_poll`, `reader_mmap`).
///
/// For the module they use `/dev/sysgenid` (read, poll, mmap of the device);
/// for the userspace provider the SysGenID library's equivalents (`read` and
/// `poll` requests on the socket, mmap of the page file).
final class GenerationReaders: @unchecked Sendable {
    /// One reader's last sighting; -1 while it has not run.
    final class Sighting: @unchecked Sendable {
        let generation = Atomic<Int64>(-1)
        let seenAt = Atomic<UInt64>(0)

        func record(_ value: UInt32) {
            seenAt.store(monotonicNanoseconds(), ordering: .relaxed)
            generation.store(Int64(value), ordering: .releasing)
        }

        var value: Int64? {
            let value = generation.load(ordering: .acquiring)
            return value < 0 ? nil : value
        }
    }

    /// How often the mmap watcher looks at the page.
    static let mmapPeriodMilliseconds = 5

    let blocking = Sighting()
    let poll = Sighting()
    let mmap = Sighting()

    /// Starts the three threads against `provider`; a reader that cannot
    /// open its handle logs why and stays absent from `status`.
    func start(provider: SysGenIDProvider) {
        PosixThread.detach { [blocking] in
            GenerationReaders.blockingLoop(provider: provider, sighting: blocking)
        }
        PosixThread.detach { [poll] in
            GenerationReaders.pollLoop(provider: provider, sighting: poll)
        }
        PosixThread.detach { [mmap] in
            GenerationReaders.mmapLoop(provider: provider, sighting: mmap)
        }
    }

    func statusFields() -> [AgentField] {
        var fields: [AgentField] = []
        for (key, sighting) in [(AgentStatusField.readerBlocking, blocking), (AgentStatusField.readerPoll, poll),
                                (AgentStatusField.readerMmap, mmap)] {
            guard let value = sighting.value else { continue }
            fields.append(AgentField(key, String(value)))
            fields.append(AgentField(key + "_monotonic_ns",
                                     String(sighting.seenAt.load(ordering: .relaxed))))
        }
        return fields
    }

    /// read() blocks until the handle is outdated; record; acknowledge.
    private static func blockingLoop(provider: SysGenIDProvider, sighting: Sighting) {
        let genid: SysGenID
        do {
            genid = try SysGenID(provider: provider)
        } catch {
            log("blocking reader: \(error)")
            return
        }
        sighting.record(genid.current)
        while true {
            do {
                guard let value = try genid.next() else { continue }
                sighting.record(value)
                // EINVAL: a newer generation came meanwhile; the next read returns it.
                try? genid.acknowledge(value)
            } catch {
                log("blocking reader: \(error)")
                sleepMilliseconds(1000)
            }
        }
    }

    /// poll(POLLIN) until readable, then a non-blocking read; record; acknowledge.
    private static func pollLoop(provider: SysGenIDProvider, sighting: Sighting) {
        let transport: any SysGenIDTransport
        do {
            transport = try provider.openTransport()
        } catch {
            log("poll reader: \(error)")
            return
        }
        if case .success(let state) = (transport as? SocketTransport)?.watchers() {
            sighting.record(state.counter)
        } else if let page = try? provider.mapPage() {
            sighting.record(page.current)
        }
        while true {
            switch transport.poll(timeoutMilliseconds: -1) {
            case .success(true):
                switch transport.read(count: 4, nonBlocking: true) {
                case .success(let value?):
                    sighting.record(value)
                    _ = transport.acknowledge(value)
                case .success(nil), .failure(.EAGAIN):
                    continue
                case .failure(let error):
                    log("poll reader: read: \(error)")
                    sleepMilliseconds(1000)
                }
            case .success(false), .failure(.EINTR):
                continue
            case .failure(let error):
                log("poll reader: poll: \(error)")
                sleepMilliseconds(1000)
            }
        }
    }

    /// Looks at the mapped counter every few milliseconds; no syscall but the sleep.
    private static func mmapLoop(provider: SysGenIDProvider, sighting: Sighting) {
        let page: GenerationPage
        do {
            page = try provider.mapPage()
        } catch {
            log("mmap reader: \(error)")
            return
        }
        var last = page.current
        sighting.record(last)
        while true {
            sleepMilliseconds(mmapPeriodMilliseconds)
            let now = page.current
            if now != last {
                last = now
                sighting.record(now)
            }
        }
    }
}

/// Guest-side measurements for `genid-lab bench guest`.
enum GuestProbes {
    /// Arms a one-shot wake-up probe: a fresh handle (acknowledged at open)
    /// whose thread blocks in read(); when it wakes it calls `emit` at once
    /// with the generation and CLOCK_MONOTONIC. Returns the counter at arming.
    static func armWakeup(provider: SysGenIDProvider, emit: @escaping @Sendable (UInt32, UInt64) -> Void)
        throws(SysGenIDError) -> UInt32 {
        let genid = try SysGenID(provider: provider)
        let armed = genid.current
        PosixThread.detach {
            while true {
                do {
                    if let value = try genid.next() {
                        emit(value, monotonicNanoseconds())
                        return
                    }
                } catch {
                    log("wake-up probe: \(error)")
                    return
                }
            }
        }
        return armed
    }

    /// Cost of one check of the mapped counter and of one read() on an
    /// outdated handle (returns at once), in nanoseconds per operation.
    /// The handle is opened here and made outdated with TRIGGER if nothing
    /// changed since (the agent runs as root): that bumps the counter.
    static func bench(provider: SysGenIDProvider, mmapLoads: Int, reads: Int) -> AgentResponse.Outcome {
        let genid: SysGenID
        do {
            genid = try SysGenID(provider: provider)
        } catch {
            return .error("\(error.errno.name) \(error)")
        }
        guard let page = genid.page else { return .error("no mapped page: \(genid.pageError.map { "\($0)" } ?? "?")") }
        var triggered = false
        do {
            if try !genid.isOutdated() {
                try genid.trigger()
                triggered = true
            }
        } catch {
            return .error("\(error.errno.name) cannot make the handle outdated: \(error)")
        }

        // mmap: what a consumer does, a load compared with the generation
        // it knows; batches of 1000, the median batch per check.
        let batch = 1000
        var mmapSamples: [Double] = []
        let known = page.current
        var changes = 0
        for _ in 0..<max(1, mmapLoads / batch) {
            let start = monotonicNanoseconds()
            for _ in 0..<batch where page.current != known { changes += 1 }
            mmapSamples.append(Double(monotonicNanoseconds() - start) / Double(batch))
        }

        // read(): each timed on its own; the device fd directly, the
        // provider through its socket request.
        var readSamples: [Double] = []
        var buffer: UInt32 = 0
        let device = genid.transport as? DeviceTransport
        for _ in 0..<reads {
            let start = monotonicNanoseconds()
            if let device {
                let count = Glibc.read(device.fd, &buffer, 4)
                if count != 4 { return .error("read returned \(count) (errno \(errno))") }
            } else {
                guard case .success(let value?) = genid.transport.read(count: 4, nonBlocking: false) else {
                    return .error("read on the outdated handle failed")
                }
                buffer = value
            }
            readSamples.append(Double(monotonicNanoseconds() - start))
        }
        let clockCost = clockCostNanoseconds()
        return .ok([AgentField(AgentSysGenIDField.provider, genid.kind.reportName),
                    AgentField("mmap_ns_per_op", format(median(mmapSamples))),
                    AgentField("mmap_ops", String(mmapSamples.count * batch)),
                    AgentField("read_ns_per_op", format(median(readSamples))),
                    AgentField("read_p99_ns", format(percentile(readSamples, 0.99))),
                    AgentField("read_ops", String(readSamples.count)),
                    AgentField("clock_ns", format(clockCost)),
                    AgentField("mmap_changes_seen", String(changes)),
                    AgentField("triggered", triggered ? "1" : "0"),
                    AgentField(AgentStatusField.sysgenidCounter, String(buffer))])
    }

    /// One clock_gettime(CLOCK_MONOTONIC), the floor under each timed read.
    private static func clockCostNanoseconds() -> Double {
        let count = 10_000
        let start = monotonicNanoseconds()
        var sink: UInt64 = 0
        for _ in 0..<count { sink &+= monotonicNanoseconds() }
        return Double(monotonicNanoseconds() - start - (sink & 0)) / Double(count)
    }

    static func median(_ values: [Double]) -> Double { percentile(values, 0.5) }

    static func percentile(_ values: [Double], _ fraction: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let index = min(sorted.count - 1, Int((Double(sorted.count - 1) * fraction).rounded()))
        return sorted[index]
    }

    static func format(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}
