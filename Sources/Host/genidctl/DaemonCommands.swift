import ArgumentParser
import Foundation
import GenIDControl

/// Options of every verb that talks to genidd.
struct DaemonOptions: ParsableArguments {
    @Option(help: ArgumentHelp("genidd's control socket.", valueName: "path"))
    var socket = ControlClient.defaultSocketPath
    @Flag(help: "Print JSON (genidd's response).") var json = false

    /// Sends the request; prints JSON if asked; a refusal exits 1 with genidd's reason.
    func send(_ request: ControlRequest) throws -> ControlResponse {
        let response: ControlResponse
        do {
            response = try ControlClient(socketPath: socket).send(request)
        } catch {
            throw failure("genidctl: \(error)", code: 3)
        }
        if json { print(String(decoding: try ControlCoding.encode(response), as: UTF8.self)) }
        guard response.ok else {
            if !json { _ = failure("genidctl: \(response.error ?? "genidd refused")", code: 1) }
            throw ExitCode(response.error?.contains("not ready within") == true ? 2 : 1)
        }
        return response
    }
}

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show genidd's view of every libvirt domain (or one).",
        discussion: """
            For each domain: its state, its live value (what the running guest \
            sees), where each holder stands (libvirt's live <genid>; QEMU's device \
            value, which differs from it after genid carried a value over a \
            migration; the 16 bytes in guest memory, which are current; the value \
            genid's metadata carries to a migration's destination) and any \
            disagreement between them, its persistent value (what the next start uses), whether the \
            guest has adjusted to the live value (readiness: ready, adjusting, \
            failed, unknown, not-running), and genidd's last decision. A domain \
            without <genid> is flagged; `genidctl libvirt enable DOMAIN` fixes it. \
            The first line says whether genidd's ledger answers now: while it \
            does not, genidd gives no value.
            Exit status: 0, 1 if genidd refused, 3 if genidd cannot be reached.
            """)

    @Argument(help: "Only this domain.") var domain: String?
    @OptionGroup var options: DaemonOptions

    func run() throws {
        let response = try options.send(ControlRequest(command: .status, domain: domain))
        guard !options.json else { return }
        if let ledger = response.ledger {
            printLine("ledger: \(ledger.location) (host \(ledger.host)): "
                + (ledger.reachable ? "reachable" : "UNREACHABLE: \(ledger.error ?? "") -- genidd gives no value until it is back"))
        }
        for status in response.status ?? [] {
            printLine("\(status.name)  \(status.state)  readiness=\(status.readiness)")
            printLine("  live:       \(status.liveValue ?? "-")")
            if let libvirt = status.libvirtValue { printLine("  libvirt:    \(libvirt) (the live <genid>)") }
            if let qemu = status.qemuValue { printLine("  qemu:       \(qemu) (QEMU's device value)") }
            if let guest = status.guestMemoryValue { printLine("  guest:      \(guest) (in guest memory: current)") }
            if let carried = status.carriedValue { printLine("  carried:    \(carried) (what a migration takes along)") }
            if let disagreement = status.disagreement { printLine("  disagrees:  \(disagreement)") }
            printLine("  persistent: \(status.persistentValue ?? "-")")
            if !status.hasGenID { printLine("  no <genid>: the guest has no VMGENID device (genidctl libvirt enable \(status.name))") }
            if let detail = status.readinessDetail { printLine("  readiness:  \(detail)") }
            if let action = status.lastAction { printLine("  last:       \(action)") }
            if let error = status.lastError { printLine("  error:      \(error)") }
        }
    }
}

struct RotateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Give a running libvirt domain a new generation now (through genidd).",
        discussion: """
            genidd snapshots the domain to a temporary internal snapshot, loads it \
            (so QEMU queues the guest's notification), writes a fresh value and \
            resumes. It uses libvirt's QEMU monitor passthrough, which marks the \
            domain tainted ("custom-monitor") in libvirt. Needs a qcow2 disk.
            """)

    @Argument(help: "The domain.") var domain: String
    @OptionGroup var options: DaemonOptions

    func run() throws {
        let response = try options.send(ControlRequest(command: .rotate, domain: domain))
        if !options.json, let rotation = response.rotation { printRotation(rotation) }
    }
}

struct RevertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revert",
        abstract: "Revert a running libvirt domain to an internal snapshot in the same QEMU process, with a fresh value.",
        discussion: """
            Unlike `virsh snapshot-revert` (which restarts QEMU), this loads the \
            snapshot in place: stop, loadvm, fresh value, cont, through libvirt's \
            monitor passthrough (the domain is marked tainted). genidd then makes \
            the snapshot libvirt's current one, as `virsh snapshot-current NAME` \
            would.
            """)

    @Argument(help: "The domain.") var domain: String
    @Argument(help: "The internal snapshot's name.") var snapshot: String
    @OptionGroup var options: DaemonOptions

    func run() throws {
        let response = try options.send(ControlRequest(command: .revert, domain: domain, snapshot: snapshot))
        if !options.json, let rotation = response.rotation { printRotation(rotation) }
    }
}

struct WaitReadyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wait-ready",
        abstract: "Block until a domain's guest has adjusted to its current generation.",
        discussion: """
            Ready means: the guest's sysgenid has taken the domain's current \
            value and every tracked sysgenid watcher in the guest has \
            acknowledged it (genidd asks the guest agent on the \
            org.genid.genidd.0 channel). For control planes that must not route \
            work to a guest that is still reseeding.
            Exit status: 0 ready, 2 not ready within --timeout, 1 other refusal \
            (not running, no agent channel, ...), 3 genidd unreachable.
            """)

    @Argument(help: "The domain.") var domain: String
    @Option(help: "Seconds to wait at most (default: genidd's readinessTimeoutSeconds).") var timeout: Double?
    @OptionGroup var options: DaemonOptions

    func validate() throws {
        if let timeout, timeout <= 0 { throw ValidationError("--timeout must be positive") }
    }

    func run() throws {
        let response = try options.send(ControlRequest(command: .waitReady, domain: domain, timeoutSeconds: timeout))
        if !options.json, let ready = response.ready {
            printLine("\(ready.domain) ready with \(ready.value) (waited \(Int(ready.waitedMilliseconds)) ms)")
        }
    }
}

func printRotation(_ rotation: RotationSummary) {
    printLine("\(rotation.domain): \(rotation.event) \(rotation.source) -> \(rotation.value) "
          + "(guest paused \(String(format: "%.1f", rotation.pauseMilliseconds)) ms)")
}

struct ReconcileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconcile",
        abstract: "Ask genidd to look at every domain (or one) now, as it does at every (re)connection.")

    @Argument(help: "Only this domain.") var domain: String?
    @OptionGroup var options: DaemonOptions

    func run() throws {
        let response = try options.send(ControlRequest(command: .reconcile, domain: domain))
        if !options.json { printLine(response.message ?? "done") }
    }
}

struct NotifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notify",
        abstract: "Tell genidd a libvirt hook ran (used by qemu/hooks/genid; never calls libvirt).",
        discussion: """
            genidd answers at once and looks at the domain a moment later, after \
            the hook has returned: a hook must never wait on libvirt.
            """)

    @Argument(help: "The domain.") var domain: String
    @Argument(help: "The hook's operation/sub-operation, e.g. start/begin.") var event: String
    @OptionGroup var options: DaemonOptions

    func run() throws {
        _ = try options.send(ControlRequest(command: .notify, domain: domain, event: event))
    }
}
