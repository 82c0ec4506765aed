import Foundation
import GenIDControl
import Libvirt
import Synchronization

/// `genid-lab bench load`: genidd under a burst of libvirt lifecycle events
/// while clients poll its control socket. No guest boots.
///
/// libvirt's `test:///default` state is shared by every connection *of one
/// process*, so a private libvirtd serves it (`TestDriverDaemon`): genidd
/// and the benchmark both connect to it, and the events the benchmark
/// causes reach genidd's own connection. The benchmark defines `domains`
/// running domains with a `<genid>` and a running snapshot each, starts
/// genidd on them, then issues starts (destroy + start), snapshot reverts,
/// defines of copied XML and undefines of earlier copies until they caused
/// `events` events, while `pollers` clients ask `status` and `history`.
///
/// The benchmark's own connection witnesses every event libvirt sends;
/// genidd's `decided` log lines (one per event it took) are compared with
/// them domain by domain: each witnessed event must be decided exactly once
/// (genidd's own definition writes cause events too, and count alike).
public struct LoadBenchmark: Sendable {
    public struct Latency: Codable, Sendable {
        public var median: Double
        public var p99: Double
        public var max: Double

        init(_ values: [Double]) {
            median = GenIDLab.median(values)
            p99 = percentile(values, 0.99)
            max = values.max() ?? .nan
        }
    }

    public struct Result: Codable, Sendable {
        public var domains: Int
        public var ledger: String
        public var genidd: String
        /// Operations the benchmark carried out, by kind.
        public var operations: [String: Int]
        /// Events libvirt sent after the burst began (the benchmark's own
        /// connection saw them), and of those, the ones genidd's own writes caused.
        public var eventsWitnessed: Int
        public var eventsCausedByGenidd: Int
        /// `decided` lines genidd logged for them, by outcome.
        public var eventsDecided: Int
        public var outcomes: [String: Int]
        /// Witnessed but never decided, and decided more often than witnessed.
        public var eventsLost: Int
        public var eventsDecidedTwice: Int
        /// Burst start until the last operation returned / the last decision.
        public var burstSeconds: Double
        public var drainSeconds: Double
        public var eventsPerSecond: Double
        /// Per event, genidd's own measure: from libvirt delivering it to
        /// genidd to the decision; and its two stages, waiting for genidd
        /// to take it off its event stream, and deciding.
        public var decisionMilliseconds: Latency
        public var queued: Latency
        public var deciding: Latency
        public var polls: [String: Int]
        /// What the clients were told instead of an answer (each message once).
        public var pollFailures: [String]
        public var pollMilliseconds: [String: Latency]
        /// `genidctl history --check` on the ledger afterwards.
        public var ledgerConsistent: Bool
        public var ledgerCheck: String
        public var ledgerRecords: Int
        /// genidd's resident memory (VmRSS): after its start-up pass, the
        /// highest seen during the burst (sampled every 100 ms), and once
        /// every event was decided and the clients stopped.
        public var rssBaselineKB: Int
        public var rssPeakKB: Int
        public var rssAfterKB: Int
        /// Each burst's own figures (`--bursts`): memory that grows from
        /// one to the next is kept, not just not yet returned.
        public var bursts: [BurstFigures]

        enum CodingKeys: String, CodingKey {
            case domains, ledger, genidd, operations, outcomes, polls
            case eventsWitnessed = "events_witnessed", eventsCausedByGenidd = "events_caused_by_genidd"
            case eventsDecided = "events_decided", eventsLost = "events_lost", eventsDecidedTwice = "events_decided_twice"
            case burstSeconds = "burst_s", drainSeconds = "drain_s", eventsPerSecond = "events_per_s"
            case decisionMilliseconds = "decision_ms", queued = "queued_ms", deciding = "deciding_ms"
            case pollFailures = "poll_failures", pollMilliseconds = "poll_ms"
            case ledgerConsistent = "ledger_consistent", ledgerCheck = "ledger_check", ledgerRecords = "ledger_records"
            case rssBaselineKB = "rss_baseline_kb", rssPeakKB = "rss_peak_kb", rssAfterKB = "rss_after_kb", bursts
        }
    }

    public let settings: LabSettings
    public let domains: Int
    public let events: Int
    public let pollers: Int
    public let bursts: Int

    public init(settings: LabSettings, domains: Int, events: Int, pollers: Int, bursts: Int = 1) {
        self.settings = settings
        self.domains = domains
        self.events = events
        self.pollers = pollers
        self.bursts = bursts
    }

    static let snapshot = "load-base"

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> Result {
        let directory = try RunDirectory.create(in: settings.runRoot, name: "bench-load")
        defer { directory.remove() }
        progress("starting a private libvirtd serving libvirt's test driver")
        let daemon = try await TestDriverDaemon.start(in: directory.path)
        defer { daemon.stop() }
        let connection = try Connection.open(daemon.uri)
        defer { connection.close() }
        progress("defining \(domains) running domains, each with a running snapshot")
        let names = try await runBlocking { try Self.populate(connection, domains: self.domains) }

        let ledger = "\(directory.path)/ledger.sqlite"
        let genidd = try LabGenidd(ledgerPath: ledger, libvirtURI: daemon.uri, runRoot: directory.path)
        let keptLog = "\(settings.buildDirectory)/logs/bench-load-genidd.log"
        try? FileManager.default.createDirectory(atPath: "\(settings.buildDirectory)/logs",
                                                 withIntermediateDirectories: true)
        defer { genidd.tearDown(keepLogAt: keptLog) }
        progress("starting genidd (its start-up pass records every domain's value)")
        try await genidd.start(timeout: .seconds(600))
        _ = try genidd.send(ControlRequest(command: .reconcile))  // queued behind the start-up pass
        guard let pid = genidd.pid else {
            throw LabError.commandFailed(command: "genidd", status: -1, output: genidd.log(lines: 20))
        }
        let decisions = DecisionLog(path: genidd.runLogPath)
        _ = try decisions.read()  // the start-up pass is not part of the burst
        try await Task.sleep(for: .seconds(1))
        let baseline = try Self.residentKB(pid: pid)

        // A connection of its own: none of the burst's calls delay its events.
        let watching = try Connection.open(daemon.uri)
        defer { watching.close() }
        let witness = try EventWitness(watching)
        var operations = Operations(names: names)
        var figures: [BurstFigures] = []
        var decided: [Decided] = []
        for round in 1...bursts {
            progress("burst \(round)/\(bursts): \(events) events on \(domains) domains, \(pollers) clients polling")
            let (burst, figure) = try await burst(&operations, connection: connection, genidd: genidd, pid: pid,
                                                  decisions: decisions, witness: witness, decidedBefore: decided.count,
                                                  baseline: baseline, progress: progress)
            decided += burst
            figures.append(figure)
        }
        let seen = witness.stop()
        let polled = figures.flatMap(\.polls)
        let comparison = Self.compare(seen, decided)
        let drainSeconds = figures.map(\.drainSeconds).reduce(0, +)
        let check = try Subprocess.run([Self.genidctlPath, "history", "--check", "--ledger", ledger])
        let records = check.standardOutput.split(separator: "\n").count
        return Result(
            domains: domains, ledger: ledger, genidd: LabGenidd.executablePath, operations: operations.done,
            eventsWitnessed: seen.count, eventsCausedByGenidd: seen.filter { $0.kind == .defined(.updated) }.count,
            eventsDecided: decided.count, outcomes: Dictionary(grouping: decided, by: \.outcome).mapValues(\.count),
            eventsLost: comparison.lost, eventsDecidedTwice: comparison.twice,
            burstSeconds: figures.map(\.burstSeconds).reduce(0, +), drainSeconds: drainSeconds,
            eventsPerSecond: Double(decided.count) / max(drainSeconds, 0.001),
            decisionMilliseconds: Latency(decided.map(\.milliseconds)), queued: Latency(decided.map(\.queuedMilliseconds)),
            deciding: Latency(decided.map { $0.milliseconds - $0.queuedMilliseconds }),
            polls: Dictionary(grouping: polled, by: \.command).mapValues(\.count),
            pollFailures: Array(Set(polled.compactMap(\.error))).sorted(),
            pollMilliseconds: Dictionary(grouping: polled, by: \.command)
                .mapValues { Latency($0.map(\.milliseconds)) },
            ledgerConsistent: check.status == 0,
            ledgerCheck: check.status == 0 ? "no value twice" : (check.standardError + check.standardOutput)
                .split(separator: "\n").suffix(5).joined(separator: "\n"),
            ledgerRecords: records, rssBaselineKB: baseline, rssPeakKB: figures.map(\.rssPeakKB).max() ?? baseline,
            rssAfterKB: figures.last?.rssAfterKB ?? baseline, bursts: figures)
    }

    /// One burst, with the clients polling and genidd's memory sampled
    /// until every event it caused is decided; then the clients stop and,
    /// 2 s later, genidd's memory is read again.
    private func burst(_ operations: inout Operations, connection: Connection, genidd: LabGenidd, pid: pid_t,
                       decisions: DecisionLog, witness: EventWitness, decidedBefore: Int, baseline: Int,
                       progress: @escaping @Sendable (String) -> Void) async throws -> ([Decided], BurstFigures) {
        let shared = Shared(peak: baseline)
        let sampler = Task { await runBlocking { Self.sample(pid: pid, into: shared) } }
        let clients = (0..<pollers).map { index in
            Task { await runBlocking { Self.poll(genidd.client, index: index, until: shared) } }
        }
        let events = self.events
        let (done, burstStart, burstSeconds) = try await runBlocking { [operations] in
            var operations = operations
            let start = Date()
            try operations.cause(events, on: connection)
            return (operations, start, Date().timeIntervalSince(start))
        }
        operations = done
        progress("operations done in \(String(format: "%.1f", burstSeconds)) s; waiting for genidd's decisions")
        var decided: [Decided] = []
        var quiet = 0
        let deadline = ContinuousClock.now + .seconds(600)
        // Done when every witnessed event is decided and no new one came for 2 s.
        while ContinuousClock.now < deadline {
            guard genidd.isRunning else {
                throw LabError.commandFailed(command: "genidd (exited during the burst)", status: -1,
                                             output: genidd.log(lines: 20))
            }
            decided += try decisions.read()
            let seen = witness.count - decidedBefore
            if decided.count >= seen, quiet >= 20 { break }
            quiet = decided.count >= seen ? quiet + 1 : 0
            try await Task.sleep(for: .milliseconds(100))
        }
        shared.stop.store(true, ordering: .relaxed)
        var polls: [Poll] = []
        for client in clients { polls += await client.value }
        await sampler.value
        try await Task.sleep(for: .seconds(2))
        let drain = (decided.map(\.at).max() ?? burstStart).timeIntervalSince(burstStart)
        return (decided, BurstFigures(burstSeconds: burstSeconds, drainSeconds: drain,
                                      eventsPerSecond: Double(decided.count) / max(drain, 0.001),
                                      rssPeakKB: shared.peak.load(ordering: .relaxed),
                                      rssAfterKB: try Self.residentKB(pid: pid), polls: polls))
    }

    static var genidctlPath: String {
        (LabGenidd.executablePath as NSString).deletingLastPathComponent + "/genidctl"
    }

    // MARK: The domains and the burst

    /// `count` running domains (the test driver's own `test` removed), each
    /// with a running snapshot; their names.
    static func populate(_ connection: Connection, domains count: Int) throws -> [String] {
        if let builtIn = try? connection.domain(named: "test") {
            try builtIn.destroy()
            try builtIn.undefine()
        }
        return try (0..<count).map { index in
            let name = "load-\(index)"
            let domain = try connection.defineDomain(xml: FleetBenchmark.testDomainXML(name: name))
            try domain.start()
            try domain.createSnapshot(named: snapshot)
            return name
        }
    }

    /// The burst's operations, in a fixed rotation over the domains: a
    /// start (destroy, then start: two events), a running revert (two), a
    /// define of a domain's copied XML (one) and the undefine of the oldest
    /// copy once more than a hundred (at most one a domain) are defined (one).
    struct Operations: Sendable {
        let names: [String]
        var done: [String: Int] = [:]
        var step = 0, copies = 0
        var defined: [String] = []

        init(names: [String]) { self.names = names }

        /// Carries on until they caused `events` more events.
        mutating func cause(_ events: Int, on connection: Connection) throws {
            var caused = 0
            while caused < events {
                let domain = try connection.domain(named: names[step % names.count])
                switch step % 4 {
                case 0:
                    try domain.destroy()
                    try domain.start()
                    done["start", default: 0] += 1
                    caused += 2
                case 1:
                    try domain.revertToSnapshot(named: snapshot)
                    done["revert", default: 0] += 1
                    caused += 2
                case 2:
                    copies += 1
                    let xml = LabDomain.copiedXML(try domain.xmlDescription(inactive: true), of: domain.name,
                                                  as: "load-copy-\(copies)")
                    defined.append(try connection.defineDomain(xml: xml).name)
                    done["define-copy", default: 0] += 1
                    caused += 1
                default:
                    guard defined.count > min(100, names.count) else { break }
                    try connection.domain(named: defined.removeFirst()).undefine()
                    done["undefine", default: 0] += 1
                    caused += 1
                }
                step += 1
            }
        }
    }

    // MARK: Clients and memory

    struct Poll: Sendable, Codable {
        let command: String
        let error: String?
        let milliseconds: Double
    }

    /// One client: `status` (every domain) or `history` (the newest page),
    /// alternately by index, back to back with 50 ms between.
    public struct BurstFigures: Codable, Sendable {
        public var burstSeconds: Double
        public var drainSeconds: Double
        public var eventsPerSecond: Double
        public var rssPeakKB: Int
        public var rssAfterKB: Int
        var polls: [Poll] = []

        enum CodingKeys: String, CodingKey {
            case burstSeconds = "burst_s", drainSeconds = "drain_s", eventsPerSecond = "events_per_s"
            case rssPeakKB = "rss_peak_kb", rssAfterKB = "rss_after_kb"
        }
    }

    /// What the burst's threads share: when to stop, genidd's highest RSS.
    final class Shared: Sendable {
        let stop = Atomic<Bool>(false)
        let peak: Atomic<Int>
        init(peak: Int) { self.peak = Atomic(peak) }
    }

    static func poll(_ client: ControlClient, index: Int, until shared: Shared) -> [Poll] {
        let command: ControlRequest.Command = index % 2 == 0 ? .status : .history
        var polls: [Poll] = []
        while !shared.stop.load(ordering: .relaxed) {
            let begin = ContinuousClock.now
            let error: String?
            do {
                let response = try client.send(ControlRequest(command: command))
                error = response.ok ? nil : response.error ?? "refused"
            } catch let failure {
                error = "\(failure)"
            }
            polls.append(Poll(command: command.rawValue, error: error.map { "\(command.rawValue): \($0)" },
                              milliseconds: (ContinuousClock.now - begin).seconds * 1000))
            usleep(50_000)
        }
        return polls
    }

    static func sample(pid: pid_t, into shared: Shared) {
        while !shared.stop.load(ordering: .relaxed) {
            if let now = try? residentKB(pid: pid) { shared.peak.max(now, ordering: .relaxed) }
            usleep(100_000)
        }
    }

    /// `VmRSS` of `/proc/PID/status`, in KB.
    static func residentKB(pid: pid_t) throws -> Int {
        try FleetBenchmark.kilobytes("VmRSS", in: "status", pid: pid)
    }

    // MARK: Witnessed against decided

    struct Witnessed: Sendable {
        let uuid: String
        let kind: DomainLifecycleEvent.Kind
    }

    struct Decided: Sendable {
        let uuid: String
        let event: String
        let outcome: String
        let milliseconds: Double
        let queuedMilliseconds: Double
        let at: Date
    }

    /// Per domain and kind of event: what was witnessed more often than
    /// decided is lost, what was decided more often, decided twice.
    static func compare(_ witnessed: [Witnessed], _ decided: [Decided]) -> (lost: Int, twice: Int) {
        var balance: [String: Int] = [:]
        for event in witnessed { balance["\(event.uuid) \(event.kind)", default: 0] += 1 }
        for decision in decided { balance["\(decision.uuid) \(decision.event)", default: 0] -= 1 }
        return (balance.values.filter { $0 > 0 }.reduce(0, +), -balance.values.filter { $0 < 0 }.reduce(0, +))
    }
}

/// Every lifecycle event libvirt sends to one connection, with when it came.
final class EventWitness: Sendable {
    private final class Seen: Sendable {
        let events = Mutex<[LoadBenchmark.Witnessed]>([])
    }

    private let seen = Seen()
    private let task: Task<Void, Never>

    init(_ connection: Connection) throws {
        let stream = try connection.lifecycleEvents()
        let seen = self.seen
        task = Task {
            for await event in stream {
                let witnessed = LoadBenchmark.Witnessed(uuid: event.domainUUID, kind: event.kind)
                seen.events.withLock { $0.append(witnessed) }
            }
        }
    }

    var count: Int { seen.events.withLock { $0.count } }

    func stop() -> [LoadBenchmark.Witnessed] {
        task.cancel()
        return seen.events.withLock { $0 }
    }
}

/// genidd's `decided` lines, read as its log grows.
final class DecisionLog: Sendable {
    let path: String
    private let offset = Mutex<UInt64>(0)

    init(path: String) { self.path = path }

    /// The decisions logged since the last call (whole lines only).
    func read() throws -> [LoadBenchmark.Decided] {
        guard let handle = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? handle.close() }
        return try offset.withLock { offset in
            try handle.seek(toOffset: offset)
            let data = handle.readDataToEndOfFile()
            guard let end = data.lastIndex(of: UInt8(ascii: "\n")) else { return [] }
            offset += UInt64(end - data.startIndex + 1)
            return String(decoding: data[...end], as: UTF8.self).split(separator: "\n").compactMap(Self.decision)
        }
    }

    private static let timestamp = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    /// `ts=... level=debug msg=decided domain=... libvirt_event=... ms=... outcome=... queued_ms=... rule=... uuid=...`
    static func decision(_ line: Substring) -> LoadBenchmark.Decided? {
        guard line.contains(" msg=decided ") else { return nil }
        var fields: [Substring: Substring] = [:]
        for field in line.split(separator: " ") {
            guard let equals = field.firstIndex(of: "=") else { continue }
            fields[field[..<equals]] = field[field.index(after: equals)...]
        }
        guard let uuid = fields["uuid"], let event = fields["libvirt_event"], let outcome = fields["outcome"],
              let milliseconds = fields["ms"].flatMap({ Double($0) }),
              let queued = fields["queued_ms"].flatMap({ Double($0) }),
              let at = fields["ts"].flatMap({ try? timestamp.parse(String($0)) }) else { return nil }
        return LoadBenchmark.Decided(uuid: String(uuid), event: String(event), outcome: String(outcome),
                                     milliseconds: milliseconds, queuedMilliseconds: queued, at: at)
    }
}

/// A libvirtd of the benchmark's own that serves only libvirt's test
/// driver, so that every client of it shares one `test:///default`.
///
/// Its sockets, pid file and log live in the run directory
/// (`test+unix:///default?socket=DIR/libvirt-sock`); `LIBVIRT_DRIVER_DIR`
/// names an empty directory, so it loads no driver module (no QEMU driver
/// that would look at the host's domains: the test driver is built into
/// libvirt itself). It runs under another name (`bench-libvirtd`), so that
/// nothing looking for the system libvirtd by name takes it for that one,
/// and dies with the benchmark (parent-death signal).
final class TestDriverDaemon: Sendable {
    let uri: String
    private let process: ChildProcess

    private init(uri: String, process: ChildProcess) {
        self.uri = uri
        self.process = process
    }

    static func start(in directory: String) async throws -> TestDriverDaemon {
        let libvirtd = LibvirtEnvironment.Options().libvirtdPath
        guard FileManager.default.isExecutableFile(atPath: libvirtd) else {
            throw LabError.missingTool(name: "libvirtd", package: "libvirt-daemon-system")
        }
        let noDrivers = "\(directory)/no-drivers", renamed = "\(directory)/bench-libvirtd"
        try FileManager.default.createDirectory(atPath: noDrivers, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: renamed, withDestinationPath: libvirtd)
        let log = "\(directory)/libvirtd.log"
        // Root only: with auth "none", whoever reaches a socket may use it.
        try """
            unix_sock_dir = "\(directory)"
            unix_sock_rw_perms = "0700"
            unix_sock_ro_perms = "0700"
            unix_sock_admin_perms = "0700"
            auth_unix_rw = "none"
            auth_unix_ro = "none"
            log_outputs = "3:file:\(log)"

            """.write(toFile: "\(directory)/libvirtd.conf", atomically: true, encoding: .utf8)
        let process = try ChildProcess.spawn("/usr/bin/env", arguments: [
            "LIBVIRT_DRIVER_DIR=\(noDrivers)", renamed, "--config", "\(directory)/libvirtd.conf",
            "--pid-file", "\(directory)/libvirtd.pid",
        ], stderrPath: "\(directory)/libvirtd.out")
        let daemon = TestDriverDaemon(uri: "test+unix:///default?socket=\(directory)/libvirt-sock", process: process)
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let status = process.exitStatus {
                let output = [log, "\(directory)/libvirtd.out"]
                    .compactMap { try? String(contentsOfFile: $0, encoding: .utf8) }.joined()
                throw LabError.commandFailed(command: "libvirtd (test driver only)", status: status, output: output)
            }
            if let probe = try? Connection.open(daemon.uri) {
                probe.close()
                return daemon
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        daemon.stop()
        throw LabError.commandFailed(command: "libvirtd (test driver only): no answer within 30 s", status: -1, output: "")
    }

    /// SIGTERM, then SIGKILL after 10 s.
    func stop() {
        kill(process.pid, SIGTERM)
        process.waitForExit(grace: .seconds(10))
    }
}
