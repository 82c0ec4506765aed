import Foundation
import GenIDLab
import Testing

extension LabIntegration {
    /// The lab's Debian guest (`make debian-image`: Debian 12, systemd as
    /// PID 1, genid's guest side installed from the project's packages)
    /// under libvirt, with genidd (`make test` runs the one the host
    /// package installed, through GENID_GENIDD).
    @Suite(.serialized) struct DebianScenarioTests {
        @Test func bootsWithSystemdTheUnitsAndTheDKMSModule() async throws {
            try requireDebianImage()
            let report = try await LabProcess.runPassingScenario(["debian-boot"])
            #expect(report.backend == "libvirt")
            #expect(report.checks.contains { $0.name == "the sysgenid module was built and installed by DKMS" && $0.passed })
            #expect(report.checks.contains { $0.name.hasPrefix("the static mmap reader") && $0.passed })
        }

        /// Each revert: a new generation for the module's readers and the
        /// static, unprivileged mmap reader; each hook once per generation;
        /// wait-ready only after the slowest hook.
        @Test func revertsRunTheHooksOnceAndWaitReadyWaitsForThem() async throws {
            try requireDebianImage()
            let report = try await LabProcess.runPassingScenario(["debian-revert", "--count", "2"])
            #expect(report.restores.count == 2)
            let values = report.restores.compactMap(\.guestGuid)
            #expect(Set(values).count == 2 && !values.contains(report.baselineGuid ?? ""), "\(values)")
            #expect(report.checks.filter { $0.name.hasPrefix("the hooks ran once each, in name order") }.count == 2)
            #expect(report.checks.filter { $0.name.hasPrefix("wait-ready returned only after the slowest hook") }.count == 2)
        }

        @Test func virshShutdownPowersTheGuestOff() async throws {
            try requireDebianImage()
            let report = try await LabProcess.runPassingScenario(["debian-shutdown"])
            #expect(report.timingsMs["shutdown"] != nil)
            #expect(report.checks.contains { $0.name == "libvirt records a shutdown by the guest" && $0.passed })
        }
    }
}

/// Fails (not skips) when `make debian-image` has not run: make test builds it.
func requireDebianImage() throws {
    let directory = DebianGuestImage.directory(buildDirectory: LabProcess.buildDirectory)
    try #require(FileManager.default.fileExists(atPath: "\(directory)/disk.qcow2"),
                 "no Debian guest image in \(directory): run 'make debian-image' (as root)")
}
