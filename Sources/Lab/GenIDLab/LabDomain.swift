import AgentProtocol
import Foundation
import GuestAgent
import Libvirt

/// How to define one lab guest under libvirtd (see `qemu/libvirt-domain.xml`).
public struct LabDomainConfiguration: Sendable {
    public var image: GuestImage
    public var memoryMiB = 512
    public var diskMiB = 64
    /// As `MachineConfiguration`'s by default; add e.g. `genid.provider=module`.
    public var kernelCommandLine: String
    public var emulator = "/usr/bin/qemu-system-x86_64"
    /// nil: `LabDomainTemplate.searchPaths`.
    public var templatePath: String?
    /// false: the template's `<memoryBacking>` is left out, so guest RAM is
    /// private to QEMU (as in most existing domains) and genidd has to reach
    /// it through /proc/PID/mem.
    public var sharedRAM = true
    /// true: a guest reboot (or `virDomainReset`) restarts the guest in the
    /// same QEMU process (`<on_reboot>restart</on_reboot>`). The template's
    /// `destroy` ends a guest that panics instead (`panic=-1` reboots it).
    public var rebootRestarts = false
    /// true: QEMU gets `-device vmclock` (QEMU >= 10) through
    /// `<qemu:commandline>`, libvirt having no element for it.
    public var vmclock = false
    /// A qcow2 image the domain's disk is an overlay of (the Debian guest's
    /// root file system); nil: an empty disk of `diskMiB`.
    public var diskBackingFile: String?
    /// QEMU's machine type (`<type machine=…>`): "q35" or "pc".
    public var machineType = "q35"
    /// NUMA cells of these sizes in MiB (adding up to `memoryMiB`), the
    /// vCPU in the first: libvirt gives each its own memory backend (with
    /// shared RAM, a memfd per cell). Empty: one RAM block.
    public var numaCellsMiB: [Int] = []

    public init(image: GuestImage) {
        self.image = image
        kernelCommandLine = MachineConfiguration(image: image).kernelCommandLine
    }
}

/// One lab guest as a persistent libvirt domain on `qemu:///system`, from
/// define to teardown.
///
/// Its files (qcow2 disk, console log) live in a `RunDirectory` (tmpfs, owned
/// by this process); the guest agent's and genidd's virtio-serial sockets are
/// chosen by libvirt (`/var/lib/libvirt/qemu/channel/target/domain-<id>-<short name>/<target>`)
/// (the short name: the first 20 characters of the domain name, e.g.
/// `domain-1-genid-lab-28936-9305/org.genid.agent.0`)
/// and read from the live XML, again after every QEMU restart (a running
/// snapshot revert or a restore starts a new QEMU with a new domain id).
///
/// Every path ends in `tearDown()` (`withLabDomain` does it) or, on
/// SIGINT/SIGTERM/SIGHUP, in the action registered with `LabCleanup`:
/// destroy, undefine with snapshot metadata, remove the run directory and
/// libvirt's QEMU log. QEMU is libvirtd's child, not the lab's, so a SIGKILL
/// of the lab leaves the domain running: the next `LabDomain.define` or
/// `genid-lab clean` removes `genid-lab-*` domains whose owner (the pid in
/// the name) is gone.
public actor LabDomain {
    /// Every lab domain's name starts with this, then `<owner pid>-<8 hex digits>`.
    public static let namePrefix = "genid-lab-"
    /// The virtio-serial target the lab's guest agent answers on.
    public static let agentChannel = agentPortName
    /// The virtio-serial target reserved for genidd.
    public static let genidChannel = "org.genid.genidd.0"
    /// QEMU names the memfd of `memory-backend-memfd` after the backend type:
    /// /proc/<pid>/fd/<n> -> `/memfd:memory-backend-memfd (deleted)`.
    public static let guestRAMMemfdName = "memory-backend-memfd"
    /// Where libvirt writes QEMU's stdout/stderr (kept after undefine; the
    /// lab removes it at teardown).
    public static let qemuLogDirectory = "/var/log/libvirt/qemu"
    /// Where libvirt keeps a running domain's QEMU pid.
    public static let qemuPidDirectory = "/run/libvirt/qemu"

    public nonisolated let name: String
    public nonisolated let domain: Domain
    public nonisolated let configuration: LabDomainConfiguration
    public nonisolated let directory: RunDirectory
    /// The definition given to libvirt.
    public nonisolated let definitionXML: String
    /// Where the libvirtd that runs the domain has its file system: "" for
    /// the machine's own, `/proc/<pid>/root` for a fleet host in its own
    /// mount namespace (`LabFleet`). The paths libvirt writes (channel
    /// sockets, QEMU's pid file and log) are read through it.
    public nonisolated let hostRoot: String
    public private(set) var agent: AgentClient?
    /// When `start()` returned.
    public private(set) var startedAt: ContinuousClock.Instant?

    private let cleanupToken: Int
    private var isTornDown = false

    public nonisolated var diskPath: String { directory.disk }
    public nonisolated var consoleLogPath: String { directory.consoleLog }
    public nonisolated var qemuPidFile: String { "\(hostRoot)\(LabDomain.qemuPidDirectory)/\(name).pid" }
    public nonisolated var qemuLogPath: String { "\(hostRoot)\(LabDomain.qemuLogDirectory)/\(name).log" }

    private init(name: String, domain: Domain, configuration: LabDomainConfiguration, directory: RunDirectory,
                 definitionXML: String, cleanupToken: Int, hostRoot: String = "") {
        self.name = name
        self.domain = domain
        self.configuration = configuration
        self.directory = directory
        self.definitionXML = definitionXML
        self.cleanupToken = cleanupToken
        self.hostRoot = hostRoot
    }

    /// After a migration: the same guest (same files) as a domain of the
    /// destination's `connection`, whose libvirtd sees the file system at
    /// `hostRoot`. This value is done with (its agent closed, nothing
    /// removed); the returned one owns the files and must be torn down.
    public func migrated(to connection: Connection, hostRoot: String) async throws -> LabDomain {
        let (name, configuration, directory, xml) = (self.name, self.configuration, self.directory, definitionXML)
        let domain = try await runBlocking { try connection.domain(named: name) }
        await agent?.close()
        agent = nil
        isTornDown = true
        LabCleanup.shared.unregister(cleanupToken)
        let logPath = "\(hostRoot)\(LabDomain.qemuLogDirectory)/\(name).log"
        let token = LabCleanup.shared.register {
            LabDomain.removeDomain(domain, name: name)
            directory.remove()
            unlink(logPath)
        }
        return LabDomain(name: name, domain: domain, configuration: configuration, directory: directory,
                         definitionXML: xml, cleanupToken: token, hostRoot: hostRoot)
    }

    /// Sweeps stale lab domains, creates the run directory and disk, and
    /// defines (does not start) the domain. The caller must call
    /// `tearDown()` on every path (`withLabDomain` does).
    public static func define(_ configuration: LabDomainConfiguration, connection: Connection,
                              runRoot: String = RunDirectory.defaultRoot, hostRoot: String = "") async throws
        -> LabDomain {
        let template = try LabDomainTemplate.load(from: configuration.templatePath)
        return try await define(configuration, connection: connection, runRoot: runRoot,
                                hostRoot: hostRoot) { name, directory in
            if let backing = configuration.diskBackingFile {
                try Subprocess.check(["qemu-img", "create", "-q", "-f", "qcow2", "-b", absolutePath(backing),
                                      "-F", "qcow2", directory.disk])
            } else {
                try Subprocess.check(["qemu-img", "create", "-q", "-f", "qcow2", directory.disk,
                                      "\(configuration.diskMiB)M"])
            }
            let xml = try template.fill([
                "NAME": name,
                "DESCRIPTION": "genid lab guest of pid \(getpid()), files in \(directory.path); "
                    + "'genid-lab clean' removes it once that process is gone",
                "KERNEL_RELEASE": configuration.image.kernel.release,
                "MEMORY_MIB": "\(configuration.memoryMiB)",
                "KERNEL": configuration.image.kernel.imagePath,
                "INITRD": absolutePath(configuration.image.initramfsPath),
                "CMDLINE": configuration.kernelCommandLine,
                "EMULATOR": configuration.emulator,
                "DISK": directory.disk,
                "CONSOLE_LOG": directory.consoleLog,
                "AGENT_CHANNEL": agentChannel,
                "GENIDD_CHANNEL": genidChannel,
            ])
            var edited = xml
            if configuration.rebootRestarts {
                edited = edited.replacingOccurrences(of: "<on_reboot>destroy</on_reboot>",
                                                     with: "<on_reboot>restart</on_reboot>")
            }
            if configuration.vmclock {
                edited = try DomainXML.addingQEMUArguments(["-device", "vmclock"], in: edited)
            }
            edited = edited.replacingOccurrences(of: "machine='q35'", with: "machine='\(configuration.machineType)'")
            if !configuration.numaCellsMiB.isEmpty {
                let cells = configuration.numaCellsMiB.enumerated().map { cell, size in
                    "<cell id='\(cell)'\(cell == 0 ? " cpus='0'" : "") memory='\(size)' unit='MiB'/>"
                }
                edited = edited.replacingOccurrences(of: "<cpu mode='maximum' check='none'/>",
                                                     with: "<cpu mode='maximum' check='none'><numa>"
                                                        + cells.joined() + "</numa></cpu>")
            }
            guard !configuration.sharedRAM else { return edited }
            return edited.replacingOccurrences(of: #"(?s)\s*<memoryBacking>.*?</memoryBacking>"#, with: "",
                                               options: .regularExpression)
        }
    }

    /// A clone made the way people copy VMs by hand: `source`'s persistent
    /// XML with a new name, no UUID, and a copy of its disk, defined as is
    /// (its `<genid>` value included). Not started.
    ///
    /// With `keepingIdentity` (for a copy to another libvirt host) the name
    /// and UUID stay too: the copy is, to libvirt and to the ledger, the same
    /// VM as the source.
    public static func defineCopy(of source: LabDomain, connection: Connection,
                                  runRoot: String = RunDirectory.defaultRoot, hostRoot: String = "",
                                  keepingIdentity: Bool = false) async throws -> LabDomain {
        let sourceXML = try source.domain.xmlDescription(inactive: true)
        return try await define(source.configuration, connection: connection, runRoot: runRoot, hostRoot: hostRoot,
                                name: keepingIdentity ? source.name : nil) { name, directory in
            try Subprocess.check(["cp", "--sparse=always", source.diskPath, directory.disk])
            return copiedXML(sourceXML, of: source.name, as: name, keepingIdentity: keepingIdentity)
                .replacingOccurrences(of: source.diskPath, with: directory.disk)
                .replacingOccurrences(of: source.consoleLogPath, with: directory.consoleLog)
        }
    }

    /// A domain's XML as someone copying it would define it: renamed, and
    /// (unless `keepingIdentity`) without its UUID, so libvirt makes one.
    static func copiedXML(_ xml: String, of name: String, as newName: String, keepingIdentity: Bool = false) -> String {
        var copy = xml.replacingOccurrences(of: "<name>\(name)</name>", with: "<name>\(newName)</name>")
        if !keepingIdentity, let uuid = copy.range(of: #"<uuid>[^<]*</uuid>"#, options: .regularExpression) {
            copy.removeSubrange(uuid)
        }
        return copy
    }

    /// Defines a domain with a fresh name and run directory from the XML
    /// `makeXML` returns; registers its removal with LabCleanup.
    private static func define(_ configuration: LabDomainConfiguration, connection: Connection, runRoot: String,
                               hostRoot: String = "", name chosen: String? = nil, makeXML: @escaping @Sendable (String, RunDirectory) throws -> String) async throws
        -> LabDomain {
        try await runBlocking {
            sweepStale(connection: connection)
            let name = chosen ?? "\(namePrefix)\(getpid())-\(String(format: "%08x", UInt32.random(in: 0...UInt32.max)))"
            let directory = try RunDirectory.create(in: runRoot, name: "libvirt")
            do {
                let xml = try makeXML(name, directory)
                let domain = try connection.defineDomain(xml: xml)
                let logPath = "\(hostRoot)\(qemuLogDirectory)/\(name).log"
                let token = LabCleanup.shared.register {
                    removeDomain(domain, name: name)
                    directory.remove()
                    unlink(logPath)
                }
                return LabDomain(name: name, domain: domain, configuration: configuration, directory: directory,
                                 definitionXML: xml, cleanupToken: token, hostRoot: hostRoot)
            } catch {
                directory.remove()
                throw error
            }
        }
    }

    /// Starts the defined domain (STARTED/BOOTED).
    public func start() async throws {
        let domain = self.domain
        try await runBlocking {
            try domain.start()
        }
        startedAt = .now
    }

    /// The live definition (what the running QEMU was started with).
    public nonisolated func liveXML() throws -> String {
        try domain.xmlDescription()
    }

    /// The live `<genid>` value (lower-case RFC 4122 text); nil without one.
    public nonisolated func liveGenerationID() throws -> String? {
        try DomainXML.genID(in: liveXML()).value
    }

    /// The UNIX socket libvirt bound for the channel `target`, from the live XML.
    public nonisolated func channelSocketPath(_ target: String) throws -> String {
        guard let path = try DomainXML.channelSocketPath(target: target, in: liveXML()) else { throw LibvirtLabError.channelMissing(domain: name, target: target) }
        return hostRoot + path
    }

    public nonisolated func agentSocketPath() throws -> String { try channelSocketPath(LabDomain.agentChannel) }
    public nonisolated func genidSocketPath() throws -> String { try channelSocketPath(LabDomain.genidChannel) }

    /// The running QEMU's pid (libvirt's pid file), if it runs.
    public nonisolated func qemuPid() -> pid_t? {
        guard let pid = RunDirectory.readPid(qemuPidFile), RunDirectory.processExists(pid) else { return nil }
        return pid
    }

    /// `/proc/<qemu pid>/fd/<n>` of the guest RAM memfd, if QEMU runs.
    public nonisolated func guestRAMPath() -> String? {
        guard let pid = qemuPid() else { return nil }
        let directory = "/proc/\(pid)/fd"
        for fd in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/\(fd)")) ?? ""
            if target.hasPrefix("/memfd:\(LabDomain.guestRAMMemfdName)") { return "\(directory)/\(fd)" }
        }
        return nil
    }

    /// Waits until the guest agent answers a ping on the agent channel;
    /// returns the time from `since` (default: when `start()` returned).
    /// Re-reads the socket path while it waits, so it also serves after a
    /// QEMU restart (see `reconnectAgent`).
    @discardableResult
    public func waitForAgent(timeout: Duration = .seconds(90), since: ContinuousClock.Instant? = nil) async throws
        -> Duration {
        let begin = since ?? startedAt ?? .now
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            try checkRunning()
            if agent == nil, let path = try? agentSocketPath(), FileManager.default.fileExists(atPath: path) {
                agent = try? await AgentClient.connect(unixSocketPath: path)
            }
            if let agent {
                do {
                    _ = try await agent.request(.ping, timeout: .milliseconds(500))
                    return ContinuousClock.now - begin
                } catch AgentClientError.timeout {
                    continue
                } catch {
                    // The socket went away (QEMU restarted): connect again.
                    await agent.close()
                    self.agent = nil
                }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        try checkRunning()
        throw LabError.agentTimeout(seconds: timeout.seconds, consoleTail: consoleTail())
    }

    /// After libvirt restarted QEMU (running snapshot revert, restore): drops
    /// the old connection and waits for the agent on the new socket.
    @discardableResult
    public func reconnectAgent(timeout: Duration = .seconds(60)) async throws -> Duration {
        let begin = ContinuousClock.now
        await agent?.close()
        agent = nil
        return try await waitForAgent(timeout: timeout, since: begin)
    }

    /// Asks the agent; fails if it is not connected (call `waitForAgent`).
    public func ask(_ verb: AgentVerb, arguments: [String] = [], timeout: Duration = .seconds(10)) async throws
        -> AgentResponse {
        guard let agent else { throw LabError.agentProtocol("the agent is not connected; call waitForAgent first") }
        return try await agent.request(verb, arguments: arguments, timeout: timeout)
    }

    /// Closes the agent, destroys and undefines the domain (with snapshot
    /// metadata), keeps the console log if asked, removes the run directory
    /// and libvirt's QEMU log. Never throws; safe to call twice.
    public func tearDown(keepConsoleLogAt logPath: String? = nil) async {
        guard !isTornDown else { return }
        isTornDown = true
        await agent?.close()
        agent = nil
        let (domain, name, directory, qemuLog) = (self.domain, self.name, self.directory, self.qemuLogPath)
        await runBlocking {
            LabDomain.removeDomain(domain, name: name)
            if let logPath {
                try? FileManager.default.createDirectory(atPath: (logPath as NSString).deletingLastPathComponent,
                                                         withIntermediateDirectories: true)
                try? FileManager.default.removeItem(atPath: logPath)
                try? FileManager.default.copyItem(atPath: directory.consoleLog, toPath: logPath)
            }
            directory.remove()
            unlink(qemuLog)
        }
        LabCleanup.shared.unregister(cleanupToken)
    }

    /// The last lines the guest printed on its serial console.
    public nonisolated func consoleTail(lines: Int = 40) -> String {
        guard let data = FileManager.default.contents(atPath: directory.consoleLog) else { return "(no console output)" }
        return String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            .suffix(lines).joined(separator: "\n")
    }

    private func checkRunning() throws {
        let active = (try? domain.isActive()) ?? false
        if !active {
            throw LibvirtLabError.domainNotRunning(name: name, consoleTail: consoleTail(),
                                                   qemuLogTail: LibvirtDaemon.tail(of: qemuLogPath))
        }
    }

    // MARK: - Leftovers

    /// The owner pid in a lab domain's name (`genid-lab-<pid>-<hex>`).
    public static func ownerPid(ofDomainNamed name: String) -> pid_t? {
        guard name.hasPrefix(namePrefix) else { return nil }
        return name.dropFirst(namePrefix.count).split(separator: "-").first.flatMap { pid_t($0) }
    }

    /// Destroys and undefines every `genid-lab-*` domain whose owner process
    /// is gone (or whose name has no owner pid), and removes its QEMU log.
    /// Returns the names removed. Domains of running lab processes stay.
    @discardableResult
    public static func sweepStale(connection: Connection) -> [String] {
        guard let domains = try? connection.allDomains() else { return [] }
        var removed: [String] = []
        for domain in domains {
            let name = domain.name
            guard name.hasPrefix(namePrefix) else { continue }
            if let owner = ownerPid(ofDomainNamed: name), owner == getpid() || RunDirectory.processExists(owner) {
                continue
            }
            removeDomain(domain, name: name)
            unlink("\(qemuLogDirectory)/\(name).log")
            removed.append(name)
        }
        return removed
    }

    /// `sweepStale(connection:)` on `uri` if a libvirtd runs (it is never
    /// started for this): for `genid-lab clean`. Returns the names removed,
    /// or why the sweep could not run.
    public static func sweepStale(uri: String = LibvirtEnvironment.Options().uri) -> Result<[String], LibvirtError> {
        guard LibvirtEnvironment.runningLibvirtd() != nil else { return .success([]) }
        do {
            let connection = try Connection.open(uri)
            defer { connection.close() }
            return .success(sweepStale(connection: connection))
        } catch {
            return .failure(error)
        }
    }

    /// Destroy if running, then undefine with snapshot metadata; errors
    /// (already gone) are ignored.
    static func removeDomain(_ domain: Domain, name: String) {
        if (try? domain.isActive()) == true { try? domain.destroy() }
        try? domain.undefine([.snapshotsMetadata])
    }

    static func absolutePath(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }
}

/// Defines and starts a lab domain, runs `body`, and tears the domain down
/// whatever happens.
public func withLabDomain<T: Sendable>(_ configuration: LabDomainConfiguration, connection: Connection,
                                       runRoot: String = RunDirectory.defaultRoot,
                                       keepConsoleLogAt logPath: String? = nil,
                                       _ body: (LabDomain) async throws -> T) async throws -> T {
    let labDomain = try await LabDomain.define(configuration, connection: connection, runRoot: runRoot)
    do {
        try await labDomain.start()
        let result = try await body(labDomain)
        await labDomain.tearDown(keepConsoleLogAt: logPath)
        return result
    } catch {
        await labDomain.tearDown(keepConsoleLogAt: logPath)
        throw error
    }
}
