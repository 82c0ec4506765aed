import ArgumentParser
import Foundation
import GenIDLab

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Side-by-side benchmarks on a real guest, reported as medians and ratios.",
        subcommands: [RevertBenchCommand.self]
    )
}

struct RevertBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revert",
        abstract: "Plain stop/loadvm/cont against genid's revert, alternating on the same guest.",
        discussion: """
            Each round runs one plain revert and one genid revert of the same
            snapshot, in alternating order. Prints both medians, their ratio,
            what genid adds (median difference and the median of its own
            ledger + write + verify step), and, on their own, the cost of
            locating the VMGENID page through the guest's ACPI tables and of
            one write-and-verify. The genid revert is the code 'genidctl qemu
            revert' runs, measured in-process (no process start-up).
            """
    )
    @OptionGroup var lab: LabOptions
    @Option(help: "Rounds (each is one plain and one genid revert).") var rounds = 15
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard rounds >= 3 else { throw ValidationError("--rounds must be at least 3") }
    }

    func run() async throws {
        LabCleanup.shared.installSignalHandlers()
        let result = try await RevertBenchmark(settings: lab.settings, rounds: rounds).run(progress: progress)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        } else {
            print(String(format: """
                guest kernel            %@
                rounds                  %d
                plain revert median     %.2f ms
                genid revert median     %.2f ms
                ratio genid/plain       %.3f
                added by genid          %.2f ms (median difference); its own steps %.3f ms (median)
                guest pause, genid      %.2f ms (median, stop to cont)
                locate page (ACPI walk) %.3f ms (median)
                write-and-verify        %.4f ms (median)
                """, result.guestKernel, result.rounds, result.plainMedian, result.genidMedian, result.ratio,
                result.addedMedian, result.rotationStepMedian, result.genidPauseMedian, result.locateMedian, result.writeAndVerifyMedian))
        }
    }
}
