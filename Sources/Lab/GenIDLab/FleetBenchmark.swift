import Foundation
import GenIDControl

/// `genid-lab bench fleet`: what genidd costs per domain, with libvirt's
/// `test:///` driver standing in for a host of many domains (no guests).
///
/// For each size: a node file with that many running domains, each with a
/// `<genid>`; a bare libvirt client (`virsh event --loop`) holding the same
/// domains, whose private memory is libvirt's own share; genidd on the same
/// URI and the given ledger, its start-up reconciliation (which records
/// every value) and then `passes` reconciliation passes timed through its
/// control socket. genidd's own memory per domain is its private memory
/// (`Pss_Anon`) less the client's, over the number of domains.
public struct FleetBenchmark: Sendable {
    public struct Size: Codable, Sendable {
        public var domains: Int
        public var geniddPssAnonKB: Int
        public var libvirtClientPssAnonKB: Int
        /// (genidd - client) / domains.
        public var ownKBPerDomain: Double
        /// Start-up to the first answer after the start-up pass (records every value).
        public var firstPassSeconds: Double
        public var passSeconds: [Double]
        public var passMedianSeconds: Double

        enum CodingKeys: String, CodingKey {
            case domains, geniddPssAnonKB = "genidd_pss_anon_kb", libvirtClientPssAnonKB = "libvirt_client_pss_anon_kb"
            case ownKBPerDomain = "own_kb_per_domain", firstPassSeconds = "first_pass_s", passSeconds = "pass_s"
            case passMedianSeconds = "pass_median_s"
        }
    }

    public struct Result: Codable, Sendable {
        public var ledger: String
        public var genidd: String
        public var sizes: [Size]
    }

    public let settings: LabSettings
    public let sizes: [Int]
    public let passes: Int
    /// A ledger location (file or `postgres://` URL); nil: a new SQLite file per size.
    public let ledger: String?

    public init(settings: LabSettings, sizes: [Int], passes: Int, ledger: String?) {
        self.settings = settings
        self.sizes = sizes
        self.passes = passes
        self.ledger = ledger
    }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> Result {
        let directory = try RunDirectory.create(in: settings.runRoot, name: "bench-fleet")
        defer { directory.remove() }
        var results: [Size] = []
        for count in sizes {
            progress("\(count) domains: libvirt client")
            let nodes = "\(directory.path)/nodes-\(count).xml"
            try Self.nodeFile(domains: count).write(toFile: nodes, atomically: true, encoding: .utf8)
            let uri = "test://" + nodes
            let clientMemory = try await Self.bareClientMemory(uri: uri, directory: directory.path)
            progress("\(count) domains: genidd start-up pass")
            let genidd = try LabGenidd(ledgerPath: ledger ?? "\(directory.path)/ledger-\(count).sqlite", libvirtURI: uri,
                                       runRoot: directory.path, logLevel: "warning")
            defer { genidd.tearDown() }
            let started = ContinuousClock.now
            try await genidd.start(timeout: .seconds(600))
            _ = try genidd.send(ControlRequest(command: .reconcile))  // queued behind the start-up pass
            let firstPass = (ContinuousClock.now - started).seconds
            var passSeconds: [Double] = []
            for pass in 1...passes {
                progress("\(count) domains: pass \(pass)/\(passes)")
                let begin = ContinuousClock.now
                let response = try genidd.send(ControlRequest(command: .reconcile))
                guard response.ok else {
                    throw LabError.commandFailed(command: "genidctl reconcile", status: 1, output: response.error ?? "")
                }
                passSeconds.append((ContinuousClock.now - begin).seconds)
            }
            guard let pid = genidd.pid else {
                throw LabError.commandFailed(command: "genidd", status: -1, output: genidd.log(lines: 20))
            }
            let geniddMemory = try Self.privateMemoryKB(pid: pid)
            results.append(Size(domains: count, geniddPssAnonKB: geniddMemory, libvirtClientPssAnonKB: clientMemory,
                                ownKBPerDomain: Double(geniddMemory - clientMemory) / Double(count),
                                firstPassSeconds: firstPass, passSeconds: passSeconds,
                                passMedianSeconds: median(passSeconds)))
        }
        return Result(ledger: ledger ?? "SQLite file (new for each size)", genidd: LabGenidd.executablePath, sizes: results)
    }

    /// libvirt's test driver: `count` running domains with a `<genid>` each.
    static func nodeFile(domains count: Int) -> String {
        "<node>\n" + (0..<count).map { testDomainXML(name: "fleet-\($0)") + "\n" }.joined() + "</node>\n"
    }

    /// A test-driver domain with a fresh UUID and `<genid>` value.
    static func testDomainXML(name: String) -> String {
        """
        <domain type='test'><name>\(name)</name><uuid>\(UUID().uuidString.lowercased())</uuid>\
        <genid>\(UUID().uuidString.lowercased())</genid><memory>65536</memory><vcpu>1</vcpu>\
        <os><type>hvm</type></os></domain>
        """
    }

    /// The private memory of a libvirt client that opened `uri` and waits.
    static func bareClientMemory(uri: String, directory: String) async throws -> Int {
        guard let virsh = Subprocess.findExecutable("virsh") else {
            throw LabError.missingTool(name: "virsh", package: "libvirt-clients")
        }
        let client = try ChildProcess.spawn(virsh, arguments: ["-c", uri, "event", "--all", "--loop"],
                                            stderrPath: "\(directory)/virsh.log")
        defer { client.killAndWait() }
        // Opening the connection parses the node file; wait until the figure settles.
        var last = -1
        for _ in 0..<50 {
            try await Task.sleep(for: .milliseconds(200))
            if let status = client.exitStatus {
                throw LabError.commandFailed(command: "virsh -c \(uri) event --loop", status: status,
                                             output: (try? String(contentsOfFile: "\(directory)/virsh.log", encoding: .utf8)) ?? "")
            }
            let now = try privateMemoryKB(pid: client.pid)
            if now == last { return now }
            last = now
        }
        return last
    }

    /// `Pss_Anon` of `/proc/PID/smaps_rollup`, in KB.
    static func privateMemoryKB(pid: pid_t) throws -> Int {
        try kilobytes("Pss_Anon", in: "smaps_rollup", pid: pid)
    }

    /// A `FIELD:  N kB` line of `/proc/PID/FILE`.
    static func kilobytes(_ field: String, in file: String, pid: pid_t) throws -> Int {
        let text = try String(contentsOfFile: "/proc/\(pid)/\(file)", encoding: .utf8)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("\(field):") }),
              let value = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else {
            throw LabError.commandFailed(command: "reading /proc/\(pid)/\(file)", status: -1, output: text)
        }
        return value
    }
}
