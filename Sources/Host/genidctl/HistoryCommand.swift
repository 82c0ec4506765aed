import ArgumentParser
import Foundation
import GenIDControl
import GenerationStore
import OpenLedger

struct HistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "List every value the ledger holds, oldest first.",
        discussion: """
            Each line is one value genid gave a VM (origin 'issued') or saw it
            have (origin 'observed'): when, the VM, the host that recorded it
            (where the VM went with it, after a live migration; '-' for records
            older than host names), the value, its role, the event that caused
            it, its origin and any detail. With
            --check, exits 1 if any value appears twice (it never should: the
            database refuses it).

            With --ledger (or $GENID_LEDGER set), that ledger is read directly,
            whether genidd runs or not: an SQLite file, or a fleet ledger's
            postgres:// URL (every host's records, each naming its host; TLS
            unless ?sslmode=disable, the password from ?passwordFile=FILE
            rather than the URL, which ps shows: see Documentation/genidd.md);
            otherwise genidd answers from its ledger.
            """
    )

    @Option(help: "Only this VM.") var vm: String?
    @Option(help: ArgumentHelp("Read this ledger (an SQLite file or a postgres:// URL) directly instead of asking genidd.",
                               valueName: "path-or-url"))
    var ledger: String?
    @Option(help: ArgumentHelp("genidd's control socket.", valueName: "path"))
    var socket = ControlClient.defaultSocketPath
    @Option(help: "At most this many entries (the newest).") var limit: Int?
    @Flag(help: "Verify that no value appears twice.") var check = false
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        if let limit, limit < 0 { throw ValidationError("--limit must not be negative") }
    }

    func run() async throws {
        let file = ledger ?? ProcessInfo.processInfo.environment["GENID_LEDGER"]
        let records: [GenerationRecord]
        if let file {
            records = try await openLedger(at: file).history(vm: vm, limit: limit)
        } else {
            records = try Self.fromDaemon(socket, vm: vm, limit: limit)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .iso8601
            print(String(decoding: try encoder.encode(records), as: UTF8.self))
        } else {
            let formatter = ISO8601DateFormatter()
            for record in records {
                printLine([formatter.string(from: record.createdAt), record.vm.name, record.host ?? "-", record.value.description,
                       record.role.rawValue, record.event, record.origin.rawValue, record.detail ?? ""]
                    .joined(separator: "  "))
            }
        }
        if check {
            let duplicates = Dictionary(grouping: records, by: \.value).filter { $0.value.count > 1 }.keys.map(\.description).sorted()
            guard duplicates.isEmpty else {
                FileHandle.standardError.write(Data("genidctl: values recorded twice: \(duplicates)\n".utf8))
                throw ExitCode.failure
            }
        }
    }

    /// Pages through genidd's history (it answers at most
    /// `ControlLimits.maximumHistoryPage` records at a time), newest page
    /// first, until `limit` records or the oldest.
    static func fromDaemon(_ socket: String, vm: String?, limit: Int?) throws -> [GenerationRecord] {
        var pages: [[GenerationRecord]] = []
        var (wanted, before): (Int?, Int64?) = (limit, nil)
        repeat {
            let page = min(wanted ?? ControlLimits.maximumHistoryPage, ControlLimits.maximumHistoryPage)
            let response: ControlResponse
            do {
                response = try ControlClient(socketPath: socket).send(
                    ControlRequest(command: .history, domain: vm, limit: page, before: before))
            } catch {
                throw failure("genidctl: \(error)\n(or read a ledger file directly: --ledger PATH or $GENID_LEDGER)",
                              code: 3)
            }
            guard response.ok else { throw failure("genidctl: \(response.error ?? "genidd refused")", code: 1) }
            let records = response.history ?? []
            pages.append(records)
            wanted = wanted.map { $0 - records.count }
            before = response.historyBefore
        } while before != nil && (wanted ?? 1) > 0
        return pages.reversed().flatMap { $0 }
    }
}
