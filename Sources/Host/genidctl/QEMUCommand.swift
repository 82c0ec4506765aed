import ArgumentParser
import Foundation
import GenIDHost
import GenerationStore
import OpenLedger
import VMGenID

struct QEMUCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qemu",
        abstract: "Act on one QEMU through its QMP socket, without genidd.",
        discussion: """
            Every verb that loads state (revert, restore, rotate) gives the
            guest a fresh value: record a new value in the ledger, stop, load,
            write and verify it in guest memory, cont. If a step after the load fails, the
            VM is left paused rather than resumed on a stale value. 'migrate'
            moves a VM to another QEMU and keeps the value the guest has.

            Examples (the verb first, then its options):
              genidctl qemu snapshot base \\
                --qmp /run/vm1/qmp.sock --ram-file /dev/shm/vm1.ram
              genidctl qemu revert base \\
                --qmp /run/vm1/qmp.sock --ram-file /dev/shm/vm1.ram
              genidctl qemu rotate \\
                --qmp /run/vm1/qmp.sock --pid "$(cat /run/vm1/qemu.pid)"
              genidctl qemu status --json \\
                --qmp /run/vm1/qmp.sock --ram-file /dev/shm/vm1.ram
            """,
        subcommands: [StatusVerb.self, SnapshotVerb.self, RevertVerb.self, SaveVerb.self, RestoreVerb.self,
                      RotateVerb.self, MigrateVerb.self]
    )
}

/// How to reach the QEMU and its RAM; shared by every qemu verb.
struct QEMUTargetOptions: ParsableArguments {
    @Option(help: ArgumentHelp("QEMU's QMP socket (-chardev socket,path=…,server=on + -mon …,mode=control).",
                               valueName: "path"))
    var qmp: String

    @Option(help: ArgumentHelp("Guest RAM shared file (memory-backend-file mem-path, share=on).", valueName: "path"))
    var ramFile: String?

    @Option(help: ArgumentHelp("QEMU's pid: reach guest RAM through /proc/PID/mem (needs ptrace rights, e.g. root).",
                               valueName: "pid"))
    var pid: Int32?

    @Option(help: ArgumentHelp("Name of the VM in the ledger (default: the QMP socket path).", valueName: "name"))
    var name: String?

    @Option(help: ArgumentHelp("Ledger: an SQLite file or a postgres:// URL (default: $GENID_LEDGER, or "
                               + "/var/lib/genid/ledger.sqlite as root).",
                               valueName: "path"))
    var ledger: String?

    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        if ramFile != nil && pid != nil { throw ValidationError("give --ram-file or --pid, not both") }
        if ramFile == nil && pid == nil {
            throw ValidationError("give --ram-file FILE (shared guest RAM) or --pid PID (QEMU's /proc/PID/mem)")
        }
    }

    var memorySource: GuestMemorySource {
        if let ramFile { return .sharedFile(ramFile) }
        return .qemuProcess(pid: pid!)
    }

    func attach() async throws -> AttachedVM {
        try await AttachedVM.attach(identity: VMIdentity(name: name ?? qmp), qmpSocket: qmp, memory: memorySource)
    }

    func openStore() throws -> any GenerationStore {
        try openLedger(at: ledger ?? LedgerLocation.default)
    }

    /// Attaches, runs `body`, and closes the connection on every path.
    func withRotator<T>(_ body: (Rotator) async throws -> T) async throws -> T {
        let store = try openStore()
        let vm = try await attach()
        do {
            let result = try await body(Rotator(vm: vm, store: store))
            await vm.close()
            return result
        } catch {
            await vm.close()
            throw error
        }
    }
}

struct StatusVerb: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show QEMU's value, the value in guest memory, and the VM's last ledger entry.",
        discussion: """
            QEMU's value is what its vmgenid device was created with; after a
            genid rotation guest memory holds a newer one, which is what the
            guest sees. 'fresh' says whether the guest-visible value is the
            last one the ledger gave this VM.
            """
    )
    @OptionGroup var target: QEMUTargetOptions

    func run() async throws {
        try await target.withRotator { rotator in
            let vm = rotator.vm
            let qemu = try await vm.qemuValue()
            let guest = try vm.guestMemoryValue()
            let state = try await vm.runState()
            let latest = try await rotator.store.latest(of: vm.identity, role: .live)
            let owner = try await rotator.store.owner(of: guest)
            let fields: [(String, String)] = [
                ("vm", vm.name), ("run_state", state), ("qemu_value", qemu.description),
                ("guest_value", guest.description), ("slot", try vm.region(of: VMGenIDSignal()).description),
                ("ledger_latest", latest?.value.description ?? "none"), ("ledger_event", latest?.event ?? "none"),
                ("guest_value_owner", owner?.vm.name ?? "none"),
            ]
            printFields(fields, json: target.json)
        }
    }
}

struct SnapshotVerb: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot", abstract: "Take an internal snapshot (needs a qcow2 disk); the VM keeps running.")
    @OptionGroup var target: QEMUTargetOptions
    @Argument(help: "Snapshot name.") var snapshotName: String

    func run() async throws {
        try await target.withRotator { try await $0.snapshot(named: snapshotName) }
        printFields([("snapshot", snapshotName)], json: target.json)
    }
}

struct RevertVerb: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revert",
        abstract: "Revert to an internal snapshot in the same QEMU and give the guest a fresh value.")
    @OptionGroup var target: QEMUTargetOptions
    @Argument(help: "Snapshot name.") var snapshotName: String

    func run() async throws {
        let rotation = try await target.withRotator { try await $0.revert(to: snapshotName) }
        printRotation(rotation, json: target.json)
    }
}

struct SaveVerb: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "save",
        abstract: "Save the VM state to a file (a migration stream); the VM keeps its run state.",
        discussion: "Restore it into a QEMU started with '-incoming defer' with 'genidctl qemu restore FILE --qmp SOCK --ram-file RAM'.")
    @OptionGroup var target: QEMUTargetOptions
    @Argument(help: "State file to write.") var file: String

    func run() async throws {
        let path = URL(fileURLWithPath: file).path
        try await target.withRotator { try await $0.save(to: path) }
        printFields([("saved", path)], json: target.json)
    }
}

struct RestoreVerb: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Load a saved state into a QEMU started with '-incoming defer' and give the guest a fresh value.")
    @OptionGroup var target: QEMUTargetOptions
    @Argument(help: "State file written by 'save'.") var file: String

    func run() async throws {
        let path = URL(fileURLWithPath: file).path
        let rotation = try await target.withRotator { try await $0.restore(from: path) }
        printRotation(rotation, json: target.json)
    }
}

struct RotateVerb: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Give a running VM a new generation now (snapshot, load, write, resume, delete the snapshot).",
        discussion: "Needs a snapshot-capable (qcow2) disk; the guest notices within a moment of resuming.")
    @OptionGroup var target: QEMUTargetOptions

    func run() async throws {
        let rotation = try await target.withRotator { try await $0.rotate() }
        printRotation(rotation, json: target.json)
    }
}

func printRotation(_ rotation: Rotation, json: Bool) {
    printFields([
        ("vm", rotation.vm), ("event", rotation.event.rawValue), ("source", rotation.source),
        ("value", rotation.value.description), ("slot", rotation.slot),
        ("signals", rotation.signals.joined(separator: ",")),
        ("ledger_ms", String(format: "%.2f", rotation.ledgerMilliseconds)),
        ("load_ms", String(format: "%.2f", rotation.loadMilliseconds)),
        ("write_ms", String(format: "%.3f", rotation.writeMilliseconds)),
        ("pause_ms", String(format: "%.2f", rotation.pauseMilliseconds)),
        ("total_ms", String(format: "%.2f", rotation.totalMilliseconds)),
    ] + rotation.warnings.map { ("warning", $0) }, json: json)
}

/// Aligned "key  value" lines, or one flat JSON object with string values.
func printFields(_ fields: [(String, String)], json: Bool) {
    if json {
        var object: [String: String] = [:]
        for (key, value) in fields { object[key] = value }
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys,
                                                                                  .withoutEscapingSlashes])
        print(String(decoding: data, as: UTF8.self))
    } else {
        let width = fields.map(\.0.count).max() ?? 0
        for (key, value) in fields { printLine(key.padding(toLength: width + 2, withPad: " ", startingAt: 0) + value) }
    }
}
