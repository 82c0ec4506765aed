import Foundation

/// The private directory of one running machine: QMP and agent sockets,
/// guest RAM file, qcow2 disk, pid files. It lives on tmpfs, is removed at
/// teardown, and carries the owner's pid so that a later run can sweep what
/// a killed run left behind.
public struct RunDirectory: Sendable {
    public static let ownerFile = "owner.pid"
    public static let qemuPidFile = "qemu.pid"

    public let path: String

    public var qmpSocket: String { "\(path)/qmp.sock" }
    public var agentSocket: String { "\(path)/agent.sock" }
    /// The socket of an extra agent port (`MachineConfiguration.extraAgentPorts`),
    /// named after the port; characters other than [A-Za-z0-9.-] become `_`.
    public func agentSocket(port name: String) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")
        let safe = String(name.map { allowed.contains($0) ? $0 : "_" })
        return "\(path)/agent-\(safe).sock"
    }
    public var ramFile: String { "\(path)/ram" }
    public var disk: String { "\(path)/disk.qcow2" }
    public var consoleLog: String { "\(path)/console.log" }
    public var qemuPid: String { "\(path)/\(RunDirectory.qemuPidFile)" }

    /// /dev/shm keeps guest RAM in memory; elsewhere fall back to the temp dir.
    public static var defaultRoot: String {
        if let root = ProcessInfo.processInfo.environment["GENID_LAB_RUN_DIR"] { return root }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: "/dev/shm", isDirectory: &isDirectory), isDirectory.boolValue {
            return "/dev/shm/genid-lab"
        }
        return NSTemporaryDirectory() + "genid-lab"
    }

    public static func create(in root: String, name: String) throws -> RunDirectory {
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        sweepStale(in: root)
        let pid = getpid()
        var attempt = 0
        while true {
            attempt += 1
            let path = "\(root)/\(name)-\(pid)-\(attempt)"
            // mkdir fails if it exists: no two machines share a directory.
            if mkdir(path, 0o700) == 0 {
                try String(pid).write(toFile: "\(path)/\(ownerFile)", atomically: true, encoding: .utf8)
                return RunDirectory(path: path)
            }
            guard errno == EEXIST else {
                throw LabError.io(path: path, message: String(cString: strerror(errno)))
            }
        }
    }

    public func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Removes directories whose owner process is gone, killing a QEMU that
    /// still runs from one (only if its command line names that directory,
    /// so a recycled pid is never hit) and stopping a fleet's hosts.
    public static func sweepStale(in root: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: root) else { return }
        for name in names {
            let directory = RunDirectory(path: "\(root)/\(name)")
            guard let owner = readPid("\(directory.path)/\(ownerFile)") else { continue }
            if owner == getpid() || processExists(owner) { continue }
            if let qemu = readPid(directory.qemuPid), commandLine(of: qemu).contains(directory.path) {
                kill(qemu, SIGKILL)
            }
            // A fleet (`LabFleet`) keeps its script: it stops its hosts.
            let fleetScript = "\(directory.path)/lab-fleet"
            if FileManager.default.isExecutableFile(atPath: fleetScript) {
                _ = try? Subprocess.run(["/bin/bash", fleetScript, "stop", directory.path])
            }
            directory.remove()
        }
    }

    static func readPid(_ path: String) -> pid_t? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    static func processExists(_ pid: pid_t) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }

    static func commandLine(of pid: pid_t) -> String {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return "" }
        return String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
    }
}
