import ArgumentParser
import Foundation
import GenIDLab

struct ImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Build the guest image for a kernel, or reuse the cached one.",
        discussion: """
            The image is the kernel from /boot plus an initramfs with busybox,
            the guest executables (see --guest-bin) with the shared libraries
            ldd lists, the kernel modules the guest needs, and an init that
            starts the guest agent. It is rebuilt only when one of those
            inputs changed (or with --force). Prints the kernel and initramfs
            paths.
            """
    )

    @OptionGroup var lab: LabOptions
    @Flag(help: "Rebuild even if the cached image is current.") var force = false
    @Flag(help: "Print a JSON object instead of text.") var json = false

    func run() throws {
        let settings = lab.settings
        let image = try settings.imageBuilder.image(for: settings.kernel, force: force, progress: progress)
        if json {
            let object: [String: Any] = [
                "kernel_release": image.kernel.release, "kernel": image.kernel.imagePath,
                "initramfs": image.initramfsPath, "rebuilt": image.rebuilt,
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("kernel     \(image.kernel.imagePath)")
            print("initramfs  \(image.initramfsPath)\(image.rebuilt ? "  (built)" : "  (cached)")")
        }
    }
}

func progress(_ message: String) {
    FileHandle.standardError.write(Data("genid-lab: \(message)\n".utf8))
}
