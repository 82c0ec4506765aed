import Foundation
import GenIDLab
import Testing

extension LabIntegration {
    /// The fleet scenarios through the real genid-lab executable: two
    /// libvirt hosts on this machine (qemu/lab-fleet: namespaces, a veth
    /// pair, a libvirtd and a genidd each), a real PostgreSQL fleet ledger,
    /// real QEMU guests migrated with libvirt's API.
    @Suite(.serialized) struct FleetScenarioTests {
        /// Two libvirt hosts, a guest live-migrated between them three times
        /// (plain, after a revert, after a rotation): it keeps its value.
        @Test func aLiveMigrationBetweenHostsKeepsTheGuestsValue() async throws {
            let report = try await runFleetScenario(["fleet-migrate", "--kernel", "6.1"])
            #expect(report.restores.count == 3)
            #expect(report.restores.allSatisfy { $0.guestGuid == $0.hostGuid && $0.guestObservedChange == false })
            #expect(report.timingsMs["downtime_plain"] != nil && report.timingsMs["downtime_after a revert"] != nil)
        }

        /// The kill test: genidds killed and PostgreSQL restarted during
        /// the migrations; no value twice, none unrecorded (the scenario's
        /// own checks), and the disturbances really happened.
        @Test func killingGeniddsAndRestartingPostgresDuringMigrationsLosesNothing() async throws {
            let report = try await runFleetScenario(["fleet-migrate", "--chaos", "--kernel", "6.12"])
            let chaos = report.chaos ?? []
            #expect(chaos.count == 3, "\(chaos)")
            #expect(chaos.filter { $0.contains("PostgreSQL restarted") }.count == 1, "\(chaos)")
        }

        /// A domain's XML and disk copied to the other host (verbatim,
        /// renamed, and started at once): each copy runs with a fresh value.
        @Test func aDomainCopiedToAnotherHostRunsWithAFreshValue() async throws {
            let report = try await runFleetScenario(["fleet-clone", "--kernel", "6.1"])
            #expect(report.restores.count == 2)
            let values = report.restores.compactMap(\.guestGuid) + [report.baselineGuid].compactMap { $0 }
            #expect(Set(values).count == values.count, "a value repeats: \(values)")
        }

        /// Plain against carried migrations of one guest between the hosts.
        @Test func fleetMigrationBenchmarkRuns() async throws {
            let result = try await LabProcess.runBenchmark(["fleet-migrate", "--rounds", "1", "--kernel", "6.1"],
                                                           as: FleetMigrateBenchmark.Result.self)
            #expect(result.plainDowntimeMilliseconds.count == 1 && result.genidDowntimeMilliseconds.count == 1)
            #expect(result.valuesKept)
            #expect(result.downtimeRatio > 0 && result.downtimeRatio.isFinite)
        }

        /// Runs one scenario, requires it passed and left no fleet host.
        private func runFleetScenario(_ arguments: [String]) async throws -> LabReport {
            let report = try await LabProcess.runPassingScenario(arguments)
            #expect(report.backend == "libvirt")
            #expect(try await fleetHostsLeft().isEmpty, "fleet hosts left running")
            return report
        }
    }
}

/// Lab fleet hosts still running (their libvirtds), as qemu/check-leftovers sees them.
func fleetHostsLeft() async throws -> [String] {
    try await runCommand(["pgrep", "-a", "-f", "^libvirtd --listen -d -f /etc/libvirt/libvirtd.conf"])
        .output.split(separator: "\n").map(String.init)
}
