import Foundation
import Testing
@testable import GenIDLab

@Suite struct KernelSelectionTests {
    let installed = [
        "6.1.0-9-amd64", "6.1.0-56-amd64", "6.1.0-56-cloud-amd64", "6.1.0-56-rt-amd64",
        "6.12.99+deb12-amd64", "6.12.117+deb12-amd64", "6.12.117+deb12-cloud-amd64", "6.10.0-1-amd64",
    ]

    @Test func seriesPicksTheNewestStandardFlavour() {
        #expect(GuestKernel.newest(matching: "6.1", among: installed) == "6.1.0-56-amd64")
        #expect(GuestKernel.newest(matching: "6.12", among: installed) == "6.12.117+deb12-amd64")
    }

    @Test func exactReleaseIsTakenAsIs() {
        #expect(GuestKernel.newest(matching: "6.1.0-9-amd64", among: installed) == "6.1.0-9-amd64")
    }

    @Test func anyInstalledSeriesBoots() {
        #expect(GuestKernel.newest(matching: "6.10", among: installed) == "6.10.0-1-amd64")
        let newer = installed + ["7.3.4+bpo-amd64", "7.3.4+bpo-cloud-amd64", "7.2.1-1-amd64", "7.30.0-1-amd64"]
        #expect(GuestKernel.newest(matching: "7.3", among: newer) == "7.3.4+bpo-amd64")
        #expect(GuestKernel.newest(matching: "7.2", among: newer) == "7.2.1-1-amd64")
        #expect(GuestKernel.installedSeries(among: newer) == ["6.1", "6.10", "6.12", "7.2", "7.3", "7.30"])
    }

    @Test func seriesNamesAreMajorDotMinor() {
        #expect(GuestKernel.isSeries("7.3") && GuestKernel.isSeries("6.12"))
        #expect(!GuestKernel.isSeries("7") && !GuestKernel.isSeries("6.1.0-56-amd64") && !GuestKernel.isSeries("latest"))
        #expect(GuestKernel.series(of: "6.1.0-56-amd64") == "6.1" && GuestKernel.series(of: "6.12.117+deb12-amd64") == "6.12")
    }

    @Test func unknownSeriesOrNothingInstalled() {
        #expect(GuestKernel.newest(matching: "6.11", among: installed) == nil)
        #expect(GuestKernel.newest(matching: "6.1", among: []) == nil)
        #expect(GuestKernel.newest(matching: "6.12", among: ["6.12.117+deb12-cloud-amd64"]) == nil)
    }

    @Test func kernelsAreFoundInEveryRootAndTheFirstRootWins() throws {
        let top = FileManager.default.temporaryDirectory.appendingPathComponent("kernel-roots-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: top) }
        for (root, release) in [("host", "6.1.0-56-amd64"), ("newer", "7.3.4+deb13-amd64"), ("newer", "6.1.0-56-amd64")] {
            try FileManager.default.createDirectory(atPath: "\(top)/\(root)/boot", withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: "\(top)/\(root)/boot/vmlinuz-\(release)", contents: Data())
        }
        let roots = ["\(top)/host", "\(top)/newer/", "\(top)/absent"]
        #expect(GuestKernel.installedReleases(roots: roots).sorted() == ["6.1.0-56-amd64", "7.3.4+deb13-amd64"])
        let newer = try GuestKernel.find("7.3", roots: roots)
        #expect(newer.imagePath == "\(top)/newer/boot/vmlinuz-7.3.4+deb13-amd64")
        #expect(newer.modulesDirectory == "\(top)/newer/lib/modules/7.3.4+deb13-amd64")
        #expect(try GuestKernel.find("6.1", roots: roots).imagePath == "\(top)/host/boot/vmlinuz-6.1.0-56-amd64")
        #expect(throws: LabError.self) { try GuestKernel.find("6.12", roots: roots) }
    }

    @Test func aMissingKernelErrorSaysWhatIsInstalledAndWhatIsNeeded() {
        let message = "\(LabError.kernelNotInstalled(selector: "7.3", searched: "/boot", installed: ["6.1", "6.12"]))"
        #expect(message.contains("7.3") && message.contains("6.1, 6.12") && message.contains("-amd64"))
    }
}

@Suite struct KernelModulesTests {
    // Shaped like Debian 6.1's files: virtio as modules.
    let modulesDep = """
        kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
        kernel/drivers/virtio/virtio_ring.ko:
        kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
        kernel/drivers/virtio/virtio_pci_modern_dev.ko:
        kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
        kernel/drivers/char/virtio_console.ko.xz: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
        """

    @Test func dependenciesComeFirstAndOnce() throws {
        let modules = KernelModules(modulesBuiltin: "kernel/drivers/virt/vmgenid.ko\n", modulesDep: modulesDep)
        let order = try modules.loadOrder(for: ["virtio_pci", "virtio-console"], release: "test")
        #expect(order == [
            "kernel/drivers/virtio/virtio_ring.ko", "kernel/drivers/virtio/virtio.ko",
            "kernel/drivers/virtio/virtio_pci_modern_dev.ko", "kernel/drivers/virtio/virtio_pci_legacy_dev.ko",
            "kernel/drivers/virtio/virtio_pci.ko", "kernel/drivers/char/virtio_console.ko.xz",
        ])
    }

    @Test func builtInDriversNeedNothing() throws {
        // Shaped like Debian 6.12: virtio built in.
        let builtin = """
            kernel/drivers/virtio/virtio.ko
            kernel/drivers/virtio/virtio_pci.ko
            kernel/drivers/char/virtio_console.ko
            """
        let modules = KernelModules(modulesBuiltin: builtin, modulesDep: "")
        #expect(try modules.loadOrder(for: ["virtio_pci", "virtio_console"], release: "test").isEmpty)
    }

    @Test func unknownModuleIsAnError() {
        let modules = KernelModules(modulesBuiltin: "", modulesDep: modulesDep)
        #expect(throws: LabError.self) { try modules.loadOrder(for: ["no_such_driver"], release: "test") }
    }

    @Test func namesOfCompressedModules() {
        #expect(KernelModules.name(ofPath: "kernel/a/b/virtio-pci.ko.zst") == "virtio_pci")
        #expect(KernelModules.name(ofPath: "x.ko") == "x")
    }
}
