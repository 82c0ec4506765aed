import ArgumentParser
import Foundation
import GenIDLab

struct CleanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clean",
        abstract: "Remove what killed lab runs left behind (and, with --images, the image cache).",
        discussion: """
            Every run already sweeps the run directories of dead lab processes
            and kills their QEMU; this does it on demand. Directories of lab
            processes that are still running are left alone.
            """
    )

    @OptionGroup var lab: LabOptions
    @Flag(help: "Also remove cached guest images and console logs.") var images = false

    func run() throws {
        let settings = lab.settings
        RunDirectory.sweepStale(in: settings.runRoot)
        if images { try? FileManager.default.removeItem(atPath: settings.buildDirectory) }
    }
}
