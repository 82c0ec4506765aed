import GenIDLab
import Testing

extension LabIntegration {
    /// Guest root rewrites its own ACPI tables to steer genid's reads and
    /// its write (past a NUMA node's block, into the PCI hole, across 4 GiB,
    /// at a copy of the value, loops, absurd lengths): on both layouts,
    /// through genidctl and through genidd, genid must refuse every case in
    /// one line, leave the VM paused and guest RAM unchanged.
    @Suite(.serialized) struct HostileGuestScenarioTests {
        @Test(arguments: ["numa", "pc"], ["genidctl", "genidd"])
        func genidRefusesEveryHostileTable(layout: String, via: String) async throws {
            let report = try await LabProcess.runPassingScenario(["hostile-guest", "--layout", layout, "--via", via,
                                                                  "--kernel", TestKernels.primary])
            // Every case ran: each has its timing.
            #expect(report.timingsMs.keys.filter { $0 != "boot_to_agent" }.count == 11, "\(report.timingsMs.keys)")
            if via == "genidd" { #expect(try labDomains().isEmpty, "lab domains left in libvirt") }
        }
    }
}
