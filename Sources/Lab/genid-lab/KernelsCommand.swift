import ArgumentParser
import GenIDLab

struct KernelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "List the guest kernels the lab can boot (installed by qemu/setup-host)."
    )

    func run() throws {
        var found = false
        for series in GuestKernel.series {
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
