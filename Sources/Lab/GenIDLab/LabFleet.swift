import Foundation
import GenerationStore
import Libvirt
import OpenLedger

/// Two libvirt hosts on this machine for the fleet scenarios
/// (`qemu/lab-fleet`): each in its own network, mount and UTS namespaces
/// with its own libvirtd, genid's hook (the checkout's `qemu/hooks/genid`)
/// and its own genidd, both genidds on one fleet ledger. Joined by a veth
/// pair: migrations go over TCP between them.
///
/// Everything lives in one run directory that also holds a copy of the
/// script, so `RunDirectory.sweepStale` can stop a fleet whose lab process
/// was killed. `stop()` (also registered with `LabCleanup`) stops both hosts
/// and their domains.
final class LabFleet: Sendable {
    struct Host: Sendable {
        /// "a" or "b".
        let name: String
        /// Its namespaces' first process.
        let holder: pid_t
        let address: String
        let genidd: LabGenidd
        let connection: Connection

        var hostname: String { "genid-host-\(name)" }
        /// Its file system as seen from outside (for the paths libvirt writes).
        var root: String { "/proc/\(holder)/root" }
        /// Its libvirtd from outside, through its UNIX socket.
        var uri: String { Self.uri(holder: holder) }
        /// Its libvirtd from the other host: what a migration connects to.
        var migrationURI: String { "qemu+tcp://\(address)/system" }

        static func uri(holder: pid_t) -> String {
            "qemu+unix:///system?socket=/proc/\(holder)/root/run/libvirt/libvirt-sock"
        }
    }

    static let hostNames = ["a", "b"]

    let directory: RunDirectory
    let hosts: [Host]
    private let script: String
    private let cleanupToken: Int

    var a: Host { hosts[0] }
    var b: Host { hosts[1] }

    private init(directory: RunDirectory, hosts: [Host], script: String, cleanupToken: Int) {
        self.directory = directory
        self.hosts = hosts
        self.script = script
        self.cleanupToken = cleanupToken
    }

    /// Starts both hosts and their genidds (on `ledger`).
    static func start(ledger: String, runRoot: String, progress: @escaping @Sendable (String) -> Void) async throws
        -> LabFleet {
        guard let source = repositoryFile("qemu/lab-fleet"), let hook = repositoryFile("qemu/hooks/genid") else {
            throw LabError.missingTool(name: "qemu/lab-fleet and qemu/hooks/genid (run genid-lab from its checkout)",
                                       package: "genid")
        }
        let directory = try RunDirectory.create(in: runRoot, name: "fleet")
        chmod(directory.path, 0o755)
        let script = "\(directory.path)/lab-fleet"
        let token = LabCleanup.shared.register { _ = try? Subprocess.run([script, "stop", directory.path]) }
        do {
            try FileManager.default.copyItem(atPath: source, toPath: script)
            for name in hostNames { try installHook(hook, host: name, in: directory.path) }
            progress("starting two libvirt hosts (namespaces genid-host-a and genid-host-b, veth 10.231.0.0/24)")
            try await runScript(script, "start", directory.path)
            var hosts: [Host] = []
            for (index, name) in hostNames.enumerated() {
                guard let holder = RunDirectory.readPid("\(directory.path)/\(name)/holder.pid") else {
                    throw LabError.io(path: "\(directory.path)/\(name)/holder.pid", message: "lab-fleet wrote no pid")
                }
                let genidd = try LabGenidd(ledgerPath: ledger, libvirtURI: "qemu:///system", runRoot: runRoot,
                                           namespaceHolder: holder)
                try linkSocket(of: genidd, host: name, in: directory.path)
                let connection = try Connection.open(Host.uri(holder: holder))
                hosts.append(Host(name: name, holder: holder, address: "10.231.0.\(index + 1)", genidd: genidd,
                                  connection: connection))
            }
            for host in hosts {
                progress("starting genidd on host \(host.name)")
                try await host.genidd.start()
            }
            return LabFleet(directory: directory, hosts: hosts, script: script, cleanupToken: token)
        } catch {
            _ = try? await runScript(script, "stop", directory.path)
            directory.remove()
            LabCleanup.shared.unregister(token)
            throw error
        }
    }

    /// The other host.
    func other(than host: Host) -> Host { host.name == a.name ? b : a }

    /// Turns genid's hook on `host` on or off (off: libvirt runs it, it does nothing).
    func setHook(enabled: Bool, on host: Host) {
        let marker = "\(directory.path)/\(host.name)/hook-off"
        if enabled { unlink(marker) } else { _ = FileManager.default.createFile(atPath: marker, contents: nil) }
    }

    /// Starts a private PostgreSQL server and a fleet on it, runs `body`
    /// with both and the ledger, and stops everything on every path (the
    /// genidds' logs kept at `logPrefix`-a.log and -b.log).
    static func with<T: Sendable>(runRoot: String, logPrefix: String, progress: @escaping @Sendable (String) -> Void,
                                  _ body: (LabFleet, LabPostgres, any GenerationStore) async throws -> T) async throws
        -> T {
        progress("starting a private PostgreSQL server for the fleet ledger")
        let postgres = try LabPostgres(runRoot: runRoot)
        defer { postgres.remove() }
        try await postgres.start()
        let fleet = try await LabFleet.start(ledger: postgres.url, runRoot: runRoot, progress: progress)
        do {
            let result = try await body(fleet, postgres, try openLedger(at: postgres.url))
            await fleet.stop(keepLogsAt: logPrefix)
            return result
        } catch {
            await fleet.stop(keepLogsAt: logPrefix)
            throw error
        }
    }

    /// Stops the genidds (keeping their logs at `keepLogsAt`-a.log and -b.log),
    /// both hosts with their domains, and removes the directory.
    func stop(keepLogsAt logPrefix: String? = nil) async {
        for host in hosts {
            host.genidd.tearDown(keepLogAt: logPrefix.map { "\($0)-\(host.name).log" })
            host.connection.close()
        }
        _ = try? await Self.runScript(script, "stop", directory.path)
        directory.remove()
        LabCleanup.shared.unregister(cleanupToken)
    }

    /// `HOST/etc/hooks/qemu.d/genid`: the checkout's hook with this host's
    /// genidctl and genidd socket (libvirt passes hooks almost no
    /// environment). libvirtd looks for hooks when it starts, so this comes
    /// first; the socket is a link made once genidd's directory exists.
    private static func installHook(_ hook: String, host: String, in root: String) throws {
        let hooks = "\(root)/\(host)/etc/hooks/qemu.d"
        try FileManager.default.createDirectory(atPath: hooks, withIntermediateDirectories: true)
        let genidctl = LabGenidd.genidctlPath
        let wrapper = """
            #!/bin/sh
            # genid's hook on lab fleet host \(host): the checkout's hook, this host's genidd.
            # A file hook-off next to genidd.sock turns it off (the benchmark's plain migrations).
            if [ -e '\(root)/\(host)/hook-off' ]; then cat > /dev/null; exit 0; fi
            GENIDCTL='\(genidctl)'
            GENID_SOCKET='\(root)/\(host)/genidd.sock'
            export GENIDCTL GENID_SOCKET
            exec '\(hook)' "$@"

            """
        try wrapper.write(toFile: "\(hooks)/genid", atomically: true, encoding: .utf8)
        chmod("\(hooks)/genid", 0o755)
    }

    /// `HOST/genidd.sock` -> the genidd's socket (the hook's fixed name).
    private static func linkSocket(of genidd: LabGenidd, host: String, in root: String) throws {
        let link = "\(root)/\(host)/genidd.sock"
        unlink(link)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: genidd.socketPath)
    }

    /// Through `ChildProcess`: the script leaves daemons running that must
    /// not hold anything the lab waits on.
    private static func runScript(_ script: String, _ command: String, _ root: String) async throws {
        let log = "\(root)/\(command).log"
        let child = try ChildProcess.spawn("/bin/bash", arguments: [script, command, root], stderrPath: log)
        await runBlocking { child.waitForExit(grace: .seconds(120)) }
        guard child.exitStatus == 0 else {
            throw LabError.commandFailed(command: "lab-fleet \(command)", status: child.exitStatus ?? -1,
                                         output: (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
        }
    }
}

/// One live migration between the fleet's hosts.
struct FleetMigration: Sendable {
    /// The guest as a domain of the destination.
    let domain: LabDomain
    /// From the call to its return (libvirt's whole job).
    let elapsed: Duration
    /// The guest's pause, as libvirt measured it (on the destination).
    let downtime: Duration?
}

extension LabFleet {
    /// Live-migrates `domain` from `source` to `destination` the ordinary
    /// way (`virDomainMigrateToURI3`, peer to peer over TCP, the definition
    /// moving along), then waits for its agent there.
    func migrate(_ domain: LabDomain, from source: Host, to destination: Host,
                 agentTimeout: Duration = .seconds(60)) async throws -> FleetMigration {
        let uri = destination.migrationURI
        let started = ContinuousClock.now
        try await runBlocking {
            // The disk is on this machine's file system, the same path on both
            // hosts: shared storage libvirt cannot recognise as such.
            try domain.domain.migratePeerToPeer(to: uri, options: [.live, .persistDestination, .undefineSource,
                                                                   .unsafe])
        }
        let elapsed = ContinuousClock.now - started
        let arrived = try await domain.migrated(to: destination.connection, hostRoot: destination.root)
        let downtime = try? arrived.domain.completedMigrationDowntime()
        try await arrived.waitForAgent(timeout: agentTimeout, since: .now)
        return FleetMigration(domain: arrived, elapsed: elapsed, downtime: downtime ?? nil)
    }
}

extension LabFleet {
    /// The frame of every fleet scenario: the guest image, a private
    /// PostgreSQL server and a fleet on it, `body` with all of them, and the
    /// report (an error ends the scenario as a failed check). Nothing is
    /// left running on any path.
    static func report(scenario: String, settings: LabSettings, progress: @escaping @Sendable (String) -> Void,
                       _ body: @escaping @Sendable (LabFleet, LabPostgres, any GenerationStore, GuestImage,
                                                    inout LabReport) async throws -> Void) async -> LabReport {
        var report = LabReport(scenario: scenario, backend: "libvirt")
        report.accelerator = MachineConfiguration.Accelerator.tcg.rawValue
        let image: GuestImage
        do {
            image = try settings.imageBuilder.image(for: settings.kernel, progress: progress)
        } catch {
            return LabReport.failed(scenario, error)
        }
        report.guestKernel = image.kernel.release
        report.consoleLog = settings.consoleLogPath(scenario: scenario, release: image.kernel.release)
        do {
            report = try await with(runRoot: settings.runRoot, logPrefix: "\(settings.buildDirectory)/logs/\(scenario)-genidd",
                                    progress: progress) { [report] fleet, postgres, ledger in
                var report = report
                if let version = try? fleet.a.connection.libvirtVersion() {
                    report.qemuVersion = "libvirt \(version.major).\(version.minor).\(version.micro)"
                }
                do {
                    try await body(fleet, postgres, ledger, image, &report)
                } catch {
                    report.error = "\(error)"
                    report.check("scenario ran to completion", false, "\(error)")
                }
                return report
            }
        } catch {
            report.error = "\(error)"
            report.check("scenario ran to completion", false, "\(error)")
        }
        report.conclude()
        return report
    }
}

/// Polls `condition` until it holds or `timeout` passes (an error counts as
/// "not yet"): for what another process (genidd) does in its own time.
func eventually(timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if (try? await condition()) == true { return true }
        try? await Task.sleep(for: .milliseconds(200))
    }
    return (try? await condition()) == true
}
