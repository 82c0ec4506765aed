import Foundation

/// The guest a `SnapshotCheck` boots: the lab's own image, or one the user
/// brings (a kernel with an optional initrd, a disk image, or both). A disk
/// is only ever the backing image of overlays.
public enum CheckGuest: Sendable, Equatable {
    /// The lab's busybox image for `LabSettings.kernel` (it runs qemu-ga).
    case labImage
    /// The user's own: `kernel` boots directly (with `initrd` and
    /// `commandLine`); without a kernel, `disk` boots through the firmware.
    case custom(kernel: String?, initrd: String?, commandLine: String?, disk: String?)

    /// What the machines of a check boot, ready for `MachineConfiguration`.
    struct Resolved: Sendable {
        var image: GuestImage
        var commandLine: String?
        var disk: String?
        var firmwareBoot: Bool
    }

    func resolve(settings: LabSettings, progress: (String) -> Void) throws -> Resolved {
        switch self {
        case .labImage:
            return Resolved(image: try settings.imageBuilder.image(for: settings.kernel, progress: progress),
                            commandLine: nil, disk: nil, firmwareBoot: false)
        case let .custom(kernel, initrd, commandLine, disk):
            for path in [kernel, initrd, disk].compactMap({ $0 }) where !FileManager.default.isReadableFile(atPath: path) {
                throw LabError.io(path: path, message: "cannot read it (a guest's kernel, initrd or disk image)")
            }
            guard kernel != nil || disk != nil else {
                throw LabError.invalidArgument("a guest of your own needs --kernel-image, --disk, or both")
            }
            guard kernel != nil || (initrd == nil && commandLine == nil) else {
                throw LabError.invalidArgument("--initrd and --append need --kernel-image (a disk alone boots through its own boot loader)")
            }
            let absolute = { (path: String) in URL(fileURLWithPath: path).standardizedFileURL.path }
            let name = kernel.map { ($0 as NSString).lastPathComponent } ?? "firmware"
            let image = GuestImage(kernel: GuestKernel(release: name, imagePath: kernel.map(absolute) ?? "",
                                                       modulesDirectory: ""),
                                   initramfsPath: initrd.map(absolute) ?? "", rebuilt: false)
            return Resolved(image: image, commandLine: commandLine, disk: disk.map(absolute), firmwareBoot: kernel == nil)
        }
    }
}
