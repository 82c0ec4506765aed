import Foundation

/// A bootable lab guest: a Debian kernel and an initramfs holding busybox,
/// the guest executables of this package and the kernel modules it needs.
public struct GuestImage: Sendable {
    public let kernel: GuestKernel
    public let initramfsPath: String
    /// True when this call built the initramfs, false when the cache was current.
    public let rebuilt: Bool
}

/// Builds `GuestImage`s under `<buildDirectory>/images/<release>/` and
/// rebuilds only when an input (file size or mtime, or the recipe) changed.
public struct GuestImageBuilder: Sendable {
    /// Bump when the layout of the image or the init script changes.
    static let recipeVersion = 5
    /// Drivers the guest needs that Debian may ship as modules.
    static let requiredModules = ["virtio_pci", "virtio_console"]
    /// Drivers loaded when the kernel has them: VMClock (`/dev/vmclock0`,
    /// Linux >= 7.0 as Debian builds it).
    static let optionalModules = ["ptp_vmclock"]
    /// The ACPI power button and the event devices busybox's acpid reads
    /// it from: loaded only with `genid.acpi=1` (`virsh shutdown`), so that
    /// the other scenarios keep the guest as it was.
    static let powerButtonModules = ["button", "evdev"]
    static let guestExecutables = ["sysgenidd", "sysgenidctl"]
    /// The QEMU guest agent (Debian's qemu-guest-agent), which runs the
    /// commands of `genid-lab check` as on any distribution guest. Taken
    /// from the building host when installed there; an image without it
    /// still boots, and `check` says the guest has no agent.
    static let qemuGuestAgentPath = "/usr/sbin/qemu-ga"
    /// The sysgenid module, built per release by `make kernel`
    /// (Kernel/sysgenid/build-all); /init loads it for `genid.provider=module`.
    static let sysgenidModuleGuestPath = "lib/genid/sysgenid.ko"

    public let buildDirectory: String
    public let guestBinaryDirectory: String
    public let busyboxPath: String
    /// Where `make kernel` puts `<release>/sysgenid.ko` (default:
    /// $GENID_KERNEL_MODULE_DIR or build/kernel).
    public let kernelModuleDirectory: String

    public init(buildDirectory: String, guestBinaryDirectory: String, busyboxPath: String = "/bin/busybox",
                kernelModuleDirectory: String? = nil) {
        self.buildDirectory = buildDirectory
        self.guestBinaryDirectory = guestBinaryDirectory
        self.busyboxPath = busyboxPath
        self.kernelModuleDirectory = kernelModuleDirectory
            ?? ProcessInfo.processInfo.environment["GENID_KERNEL_MODULE_DIR"] ?? "build/kernel"
    }

    public func image(for kernelSelector: String, force: Bool = false,
                      progress: (String) -> Void = { _ in }) throws -> GuestImage {
        let kernel = try GuestKernel.find(kernelSelector)
        let directory = "\(buildDirectory)/images/\(kernel.release)"
        let initramfsPath = "\(directory)/initramfs.cpio"
        let manifestPath = "\(directory)/manifest"

        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // Several lab processes may want the same image at once (tests run
        // in parallel): one builds, the others wait and then reuse it.
        let lock = try FileLock(path: "\(directory)/.lock")
        defer { lock.unlock() }

        let contents = try plannedContents(for: kernel)
        let manifest = try manifest(for: contents, kernel: kernel)
        if !force, FileManager.default.fileExists(atPath: initramfsPath),
           (try? String(contentsOfFile: manifestPath, encoding: .utf8)) == manifest {
            return GuestImage(kernel: kernel, initramfsPath: initramfsPath, rebuilt: false)
        }

        progress("building initramfs for \(kernel.release)")
        let archive = try archive(of: contents)
        // Write, then rename, so an interrupted build never leaves a
        // half-written image that a later run would trust.
        let temporary = "\(initramfsPath).\(getpid()).tmp"
        try Data(archive.bytes).write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, initramfsPath) == 0 else {
            throw LabError.io(path: initramfsPath, message: String(cString: strerror(errno)))
        }
        try manifest.write(toFile: manifestPath, atomically: true, encoding: .utf8)
        progress("initramfs \(initramfsPath): \(archive.bytes.count / 1024) KiB")
        return GuestImage(kernel: kernel, initramfsPath: initramfsPath, rebuilt: true)
    }

    /// One file to put in the image: where it goes and where it comes from.
    struct Entry {
        enum Source { case file(String), text(String), compressedModule(String) }
        let guestPath: String
        let source: Source
        let mode: UInt32
    }

    func plannedContents(for kernel: GuestKernel) throws -> [Entry] {
        guard FileManager.default.fileExists(atPath: busyboxPath) else {
            throw LabError.missingTool(name: "busybox", package: "busybox-static")
        }
        guard try SharedLibraries.of(busyboxPath).isEmpty else {
            throw LabError.invalidArgument("\(busyboxPath) is dynamically linked; the guest needs busybox-static")
        }
        var entries = [
            Entry(guestPath: "init", source: .text(GuestInitScript.text), mode: 0o755),
            Entry(guestPath: "bin/busybox", source: .file(busyboxPath), mode: 0o755),
        ]
        var libraries: [String] = []
        for name in GuestImageBuilder.guestExecutables {
            let path = "\(guestBinaryDirectory)/\(name)"
            guard FileManager.default.isExecutableFile(atPath: path) else {
                throw LabError.missingGuestBinary(path: path)
            }
            entries.append(Entry(guestPath: "usr/bin/\(name)", source: .file(path), mode: 0o755))
            libraries += try SharedLibraries.of(path)
        }
        if FileManager.default.isExecutableFile(atPath: GuestImageBuilder.qemuGuestAgentPath) {
            let path = GuestImageBuilder.qemuGuestAgentPath
            entries.append(Entry(guestPath: String(path.dropFirst()), source: .file(path), mode: 0o755))
            libraries += try SharedLibraries.of(path)
        }
        for library in Set(libraries).sorted() {
            entries.append(Entry(guestPath: String(library.dropFirst()), source: .file(library), mode: 0o755))
        }
        let kernelModules = try KernelModules(kernel: kernel)
        let wanted = GuestImageBuilder.requiredModules + GuestImageBuilder.optionalModules.filter(kernelModules.has)
        let modules = try kernelModules.loadOrder(for: wanted, release: kernel.release)
        let powerButton = try kernelModules.loadOrder(
            for: GuestImageBuilder.powerButtonModules.filter(kernelModules.has), release: kernel.release
        ).filter { !modules.contains($0) }
        // Each list: its modules in the image, and their names in load order for /init.
        for (list, listed) in [("etc/genid/modules", modules), ("etc/genid/acpi-modules", powerButton)] {
            var names = ""
            for module in listed {
                let name = KernelModules.name(ofPath: module) + ".ko"
                entries.append(Entry(guestPath: "lib/modules/\(name)",
                                     source: .compressedModule("\(kernel.modulesDirectory)/\(module)"), mode: 0o644))
                names += name + "\n"
            }
            entries.append(Entry(guestPath: list, source: .text(names), mode: 0o644))
        }
        entries.append(Entry(guestPath: GuestInitScript.powerButtonAction, source: .text(GuestInitScript.powerButtonScript),
                             mode: 0o755))
        let sysgenid = "\(kernelModuleDirectory)/\(kernel.release)/sysgenid.ko"
        guard FileManager.default.fileExists(atPath: sysgenid) else {
            throw LabError.invalidArgument("the sysgenid module for \(kernel.release) is missing at \(sysgenid); "
                + "build it with 'make kernel' (Kernel/sysgenid/build-all)")
        }
        entries.append(Entry(guestPath: GuestImageBuilder.sysgenidModuleGuestPath, source: .file(sysgenid), mode: 0o644))
        return entries
    }

    /// Inputs that decide whether a cached image is current.
    func manifest(for entries: [Entry], kernel: GuestKernel) throws -> String {
        var lines = ["recipe \(GuestImageBuilder.recipeVersion)", "kernel \(kernel.release)"]
        for entry in entries {
            switch entry.source {
            case .text(let text): lines.append("\(entry.guestPath) text \(fnv1a(text))")
            case .file(let path), .compressedModule(let path):
                // Libraries are often symlinks; what counts is the file behind.
                let attributes = try FileManager.default.attributesOfItem(
                    atPath: URL(fileURLWithPath: path).resolvingSymlinksInPath().path)
                let size = (attributes[.size] as? NSNumber)?.intValue ?? -1
                let mtime = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
                lines.append("\(entry.guestPath) \(path) \(size) \(mtime)")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func archive(of entries: [Entry]) throws -> NewcArchive {
        var archive = NewcArchive()
        var directories: Set<String> = []
        for directory in ["bin", "dev", "proc", "sys", "run", "tmp", "usr", "usr/bin", "etc", "lib", "lib/modules"] {
            archive.addDirectory(directory)
            directories.insert(directory)
        }
        for entry in entries {
            // Parent directories first, each once.
            var parents: [String] = []
            var parent = (entry.guestPath as NSString).deletingLastPathComponent
            while !parent.isEmpty, !directories.contains(parent) {
                parents.insert(parent, at: 0)
                parent = (parent as NSString).deletingLastPathComponent
            }
            for directory in parents {
                archive.addDirectory(directory)
                directories.insert(directory)
            }
            archive.addFile(entry.guestPath, contents: try contents(of: entry.source), mode: entry.mode)
        }
        archive.finish()
        return archive
    }

    private func contents(of source: Entry.Source) throws -> [UInt8] {
        switch source {
        case .text(let text):
            return Array(text.utf8)
        case .file(let path):
            // Follows symlinks: the guest gets the library itself.
            guard let data = FileManager.default.contents(atPath: path) else {
                throw LabError.io(path: path, message: "cannot read")
            }
            return Array(data)
        case .compressedModule(let path):
            if path.hasSuffix(".xz") { return Array(try Subprocess.checkData(["xz", "-dc", path])) }
            if path.hasSuffix(".zst") { return Array(try Subprocess.checkData(["zstd", "-dc", path])) }
            return try contents(of: .file(path))
        }
    }
}

/// Shared libraries an executable loads, as absolute host paths (the
/// dynamic loader included), from `ldd`. Empty for a static executable.
enum SharedLibraries {
    static func of(_ executable: String) throws -> [String] {
        let output = try Subprocess.run(["ldd", executable])
        if output.status != 0 {
            if (output.standardOutput + output.standardError).contains("not a dynamic executable") { return [] }
            throw LabError.commandFailed(command: "ldd \(executable)", status: output.status, output: output.standardError)
        }
        return output.standardOutput.split(separator: "\n").compactMap { line in
            // "libm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
            let words = line.split(separator: " ").map { $0.trimmingCharacters(in: .whitespaces) }
            return words.first { $0.hasPrefix("/") }
        }
    }
}

/// A stable 64-bit hash of generated text, for the cache manifest
/// (Swift's `hashValue` changes from run to run).
func fnv1a(_ text: String) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
    return String(hash, radix: 16)
}

/// An exclusive flock(2) on a file, held until `unlock()` or process exit.
struct FileLock {
    private let fd: Int32

    init(path: String) throws {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw LabError.io(path: path, message: String(cString: strerror(errno))) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else {
                close(fd)
                throw LabError.io(path: path, message: "flock: \(String(cString: strerror(errno)))")
            }
        }
    }

    func unlock() {
        close(fd)
    }
}
