import ArgumentParser
import Foundation
import GenIDHost
import VMGenID

struct MigrateVerb: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Live-migrate a VM to another QEMU; the guest keeps the value it has.",
        discussion: """
            The destination is a QEMU started with the source's command line
            (its own sockets and RAM file) plus '-incoming defer'. Its vmgenid
            device holds the value it was created with, not the one genid gave
            the guest since; QEMU writes it into the guest at the load and
            notifies the guest, which would then see an old value again and
            report a fork that did not happen. genidctl writes the value the
            guest had into the destination's page before it resumes, so the
            guest sees no change. The source is left paused ('postmigrate').
            If anything fails after the destination's load, the destination
            stays paused. A walk-through with two QEMUs: Documentation/host-rotation.md.
            """)
    @OptionGroup var target: QEMUTargetOptions

    @Option(help: ArgumentHelp("The destination's QMP socket.", valueName: "path"))
    var toQmp: String
    @Option(help: ArgumentHelp("The destination's shared guest RAM file.", valueName: "path"))
    var toRamFile: String?
    @Option(help: ArgumentHelp("The destination QEMU's pid (guest RAM through /proc/PID/mem).", valueName: "pid"))
    var toPid: Int32?
    @Option(help: ArgumentHelp("Where the stream goes (default: unix:DIR/genid-migrate.sock, DIR being the "
                                + "directory of --to-qmp).", valueName: "uri"))
    var uri: String?

    func validate() throws {
        if (toRamFile == nil) == (toPid == nil) {
            throw ValidationError("give the destination's --to-ram-file FILE or --to-pid PID (one of them)")
        }
    }

    func run() async throws {
        let store = try target.openStore()
        let source = try await target.attach()
        let migration: Migration
        do {
            let memory: GuestMemorySource = toRamFile.map { .sharedFile($0) } ?? .qemuProcess(pid: toPid!)
            let destination = try await AttachedVM.attach(identity: source.identity, qmpSocket: toQmp, memory: memory)
            do {
                let stream = uri ?? "unix:" + (toQmp as NSString).deletingLastPathComponent + "/genid-migrate.sock"
                migration = try await Migrator(source: source, destination: destination, store: store)
                    .migrate(uri: stream)
                await destination.close()
            } catch {
                await destination.close()
                throw error
            }
            await source.close()
        } catch {
            await source.close()
            throw error
        }
        printFields([
            ("vm", migration.vm), ("value", migration.value.description),
            ("destination_device_value", migration.destinationDeviceValue.description), ("uri", migration.uri),
            ("destination_pause_ms", String(format: "%.2f", migration.destinationPauseMilliseconds)),
            ("total_ms", String(format: "%.2f", migration.totalMilliseconds)),
        ], json: target.json)
    }
}
