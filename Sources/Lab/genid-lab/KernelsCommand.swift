import ArgumentParser
import GenIDLab

struct KernelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "List the guest kernels the lab can boot: 6.1 and 6.12 (qemu/setup-host installs them), 7.x (qemu/newer-stack build unpacks it into its own root), and any other installed series.",
        discussion: "Searched: /boot and /lib/modules of the host and of the newer stack's root (GENID_LAB_KERNEL_ROOTS, colon-separated, replaces that list)."
    )

    func run() throws {
        var found = false
        let installed = GuestKernel.installedSeries(among: GuestKernel.installedReleases())
        for series in GuestKernel.series + installed.filter({ !GuestKernel.series.contains($0) }) {
            if let kernel = try? GuestKernel.find(series) {
                print("\(series)\t\(kernel.release)\t\(kernel.imagePath)")
                found = true
            } else {
                print("\(series)\t(not installed)")
            }
        }
        if !found { throw ValidationError("no guest kernel is installed; run 'sudo qemu/setup-host'") }
    }
}
