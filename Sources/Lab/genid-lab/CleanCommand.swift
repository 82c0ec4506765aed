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
            processes that are still running are left alone. If a libvirtd
            runs, its genid-lab-* domains whose lab process is gone are
            destroyed and undefined first (libvirtd is never started for this).
            """
    )

    @OptionGroup var lab: LabOptions
    @Flag(help: "Also remove cached guest images and console logs.") var images = false

    func run() throws {
        let settings = lab.settings
        // Domains first: their QEMU uses files in the run directories.
        switch LabDomain.sweepStale() {
        case .success(let removed):
            for name in removed { FileHandle.standardError.write(Data("genid-lab: removed leftover domain \(name)\n".utf8)) }
        case .failure(let error):
            FileHandle.standardError.write(Data("genid-lab: could not sweep libvirt domains: \(error)\n".utf8))
        }
        RunDirectory.sweepStale(in: settings.runRoot)
        if images { try? FileManager.default.removeItem(atPath: settings.buildDirectory) }
    }
}
