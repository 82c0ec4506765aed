import Foundation
import GenIDLab
import SQLiteGenerationStore
import VMGenID
import Testing

extension LabIntegration {
    /// The host rotation scenarios on both guest kernels, through the real
    /// genid-lab executable: real QEMU, real guest kernels, judged inside the guest.
    @Suite(.serialized) struct QEMUScenarioTests {
        @Test(arguments: TestKernels.all)
        func revertFiveTimes(kernel: String) async throws {
            let report = try await runScenario(["qemu-revert", "--count", "5", "--kernel", kernel])
            #expect(report.restores.count == 5)
            expectFreshAndSeen(report)
        }

        @Test(arguments: TestKernels.all)
        func restoreThreeProcesses(kernel: String) async throws {
            let report = try await runScenario(["qemu-restore", "--count", "3", "--kernel", kernel])
            #expect(report.restores.count == 3)
            expectFreshAndSeen(report)
        }

        @Test(arguments: TestKernels.all)
        func rotateRunningGuest(kernel: String) async throws {
            let report = try await runScenario(["qemu-rotate", "--kernel", kernel])
            #expect(report.restores.count == 1)
            expectFreshAndSeen(report)
        }

        /// The bug genid exists for: a plain loadvm rewinds the guest silently.
        @Test(arguments: TestKernels.all)
        func plainLoadvmIsInvisibleToTheGuest(kernel: String) async throws {
            let report = try await runScenario(["qemu-revert-unprotected", "--count", "2", "--kernel", kernel])
            for restore in report.restores {
                #expect(restore.guestGuid == report.baselineGuid)
                #expect(restore.guestObservedChange == false)
            }
        }

        /// A live migration after a genid revert: the guest keeps the value
        /// genid gave it, though the destination's device holds the boot value.
        @Test(arguments: TestKernels.all)
        func migrationKeepsTheValueGenidGave(kernel: String) async throws {
            let report = try await runScenario(["qemu-migrate", "--kernel", kernel])
            let restore = try #require(report.restores.first)
            #expect(restore.guestGuid == restore.hostGuid && restore.guestGuid != report.baselineGuid)
            #expect(restore.guestObservedChange == false)
            #expect(restore.sysgenidAfter == restore.sysgenidBefore)
        }

        /// The gap genid closes: QEMU's own migration shows the guest its boot
        /// value again and its kernel a fork that did not happen.
        @Test func plainMigrationBringsBackTheBootValue() async throws {
            let report = try await runScenario(["qemu-migrate-unprotected", "--kernel", TestKernels.primary])
            let restore = try #require(report.restores.first)
            #expect(restore.guestGuid == report.baselineGuid && restore.guestObservedChange == true)
        }

        /// The downtime benchmark moves one guest through three QEMUs and
        /// reports both kinds side by side.
        @Test func migrationBenchmarkRunsBothKinds() async throws {
            let result = try await LabProcess.runBenchmark(["migrate", "--rounds", "1", "--kernel", TestKernels.primary],
                                                           as: MigrateBenchmark.Result.self)
            #expect(result.plainDowntimeMilliseconds.count == 1 && result.genidDowntimeMilliseconds.count == 1)
            #expect(result.ratio > 0 && result.destinationPauseMedian > 0)
        }

        /// Runs one scenario, requires it passed and left nothing, and checks
        /// the lab ledger never holds a value twice.
        private func runScenario(_ arguments: [String]) async throws -> LabReport {
            let report = try await LabProcess.runPassingScenario(arguments)
            let ledger = try SQLiteGenerationStore(path: LabProcess.ledgerPath)
            for restore in report.restores {
                if let host = restore.hostGuid, report.scenario != "qemu-revert-unprotected" {
                    #expect(try await ledger.owner(of: #require(GenerationID(host)))?.origin == .issued, "\(host) is not in the ledger as issued")
                }
            }
            return report
        }

        private func expectFreshAndSeen(_ report: LabReport) {
            var seen = Set([report.baselineGuid].compactMap { $0 })
            for restore in report.restores {
                #expect(restore.hostGuid != nil && restore.hostGuid == restore.guestGuid)
                #expect(restore.guestObservedChange == true)
                // Every kind of reader in the guest saw the new generation.
                #expect(restore.sysgenidBefore != nil && restore.sysgenidAfter != nil)
                if let before = restore.sysgenidBefore, let after = restore.sysgenidAfter { #expect(after > before) }
                #expect(restore.readerBlocking != nil && restore.readerBlocking == restore.sysgenidAfter)
                #expect(restore.readerPoll != nil && restore.readerPoll == restore.sysgenidAfter)
                #expect(restore.readerMmap != nil && restore.readerMmap == restore.sysgenidAfter)
                if let guest = restore.guestGuid {
                    #expect(!seen.contains(guest), "\(guest) seen twice")
                    seen.insert(guest)
                }
            }
        }
    }
}
