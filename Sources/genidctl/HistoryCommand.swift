import ArgumentParser
import Foundation
import GenerationLedger

struct HistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "List every value the ledger holds, oldest first.",
        discussion: """
            Each line is one value genid gave a VM (origin 'issued') or saw it
            have (origin 'observed'), with the event that caused it. With
            --check, exits 1 if any value appears twice (it never should: the
            database refuses it).
            """
    )

    @Option(help: "Only this VM.") var vm: String?
    @Option(help: ArgumentHelp("Ledger database (default: $GENID_LEDGER, or /var/lib/genid/ledger.sqlite as root).",
                               valueName: "path"))
    var ledger: String?
    @Option(help: "At most this many entries (the newest).") var limit: Int?
    @Flag(help: "Verify that no value appears twice.") var check = false
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let ledger = try GenerationLedger(path: ledger ?? GenerationLedger.defaultPath)
        var records = try ledger.history(vm: vm)
        if let limit { records = Array(records.suffix(limit)) }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .iso8601
            print(String(decoding: try encoder.encode(records), as: UTF8.self))
        } else {
            let formatter = ISO8601DateFormatter()
            for record in records {
                print([formatter.string(from: record.createdAt), record.vm, record.value, record.event,
                       record.origin.rawValue, record.detail ?? ""].joined(separator: "  "))
            }
        }
        if check {
            let duplicates = try ledger.duplicateValues()
            guard duplicates.isEmpty else {
                FileHandle.standardError.write(Data("genidctl: values recorded twice: \(duplicates)\n".utf8))
                throw ExitCode.failure
            }
        }
    }
}
