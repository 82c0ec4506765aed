import Foundation

/// The lab's Debian guest, as `qemu/debian-guest image` leaves it in
/// `<build directory>/debian`: a qcow2 root file system with systemd and
/// genid's guest packages installed, and Debian's kernel and initrd to boot
/// it with. The lab boots it through an overlay and never writes to it.
public struct DebianGuestImage: Sendable {
    public let directory: String
    public let diskPath: String
    /// The kernel command line the image is made for (`root=/dev/vda …`).
    public let kernelCommandLine: String
    /// The image's kernel and initrd, as a `GuestImage` for domain definitions.
    public let guestImage: GuestImage

    public static func directory(buildDirectory: String) -> String { "\(buildDirectory)/debian" }

    public static func load(buildDirectory: String) throws -> DebianGuestImage {
        // Absolute: libvirtd opens these paths from its own directory.
        let directory = LabDomain.absolutePath(directory(buildDirectory: buildDirectory))
        let files = ["disk.qcow2", "vmlinuz", "initrd.img", "cmdline", "release", "stamp"]
        if let missing = files.first(where: { !FileManager.default.fileExists(atPath: "\(directory)/\($0)") }) {
            throw LabError.debianImageMissing(directory: directory, missing: missing)
        }
        func text(_ name: String) throws -> String {
            try String(contentsOfFile: "\(directory)/\(name)", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let release = try text("release")
        let kernel = GuestKernel(release: release, imagePath: "\(directory)/vmlinuz", modulesDirectory: "")
        return DebianGuestImage(directory: directory, diskPath: "\(directory)/disk.qcow2",
                                kernelCommandLine: try text("cmdline"),
                                guestImage: GuestImage(kernel: kernel, initramfsPath: "\(directory)/initrd.img",
                                                       rebuilt: false))
    }

    /// A domain configuration that boots this image: its disk as the
    /// backing file of the domain's own qcow2 overlay.
    public func domainConfiguration() -> LabDomainConfiguration {
        var configuration = LabDomainConfiguration(image: guestImage)
        configuration.kernelCommandLine = kernelCommandLine
        configuration.diskBackingFile = diskPath
        return configuration
    }
}
