import Foundation
import GenIDLab
import VMGenID
import Testing

extension LabIntegration {
    /// VMClock's VM generation counter, which only QEMU >= 10 and Linux >=
    /// 7.0 guests have: these run on the newer stack (Tests/newer-stack sets
    /// GENID_TEST_VMCLOCK_KERNEL and fails unless this suite ran and
    /// passed). On the machine's own QEMU 7.2 they show as skipped.
    @Suite(.serialized, .enabled(if: TestKernels.vmclock != nil,
                                 "needs QEMU >= 10 and a 7.x guest: Tests/newer-stack runs it"))
    struct VMClockScenarioTests {
        /// An unprivileged program in the guest maps /dev/vmclock0
        /// read-only, follows the sequence counter, and sees the counter
        /// genid wrote after every revert, never one seen before.
        @Test func everyGenidRevertGivesANewCounter() async throws {
            let kernel = try #require(TestKernels.vmclock)
            let report = try await LabProcess.runPassingScenario(["vmclock-revert", "--count", "4", "--kernel", kernel])
            #expect(report.restores.count == 4)
            let counters = report.restores.map(\.vmclockCounter)
            #expect(counters.allSatisfy { $0 != nil && $0 != "0" }, "\(counters)")
            #expect(Set(counters.compactMap { $0 }).count == counters.count, "a counter repeats: \(counters)")
            for restore in report.restores {
                let value = try #require(restore.hostGuid.flatMap(GenerationID.init))
                #expect(restore.vmclockCounter == String(VMClockSignal.counter(for: value)))
            }
            #expect(report.checks.contains { $0.name == "the guest's VMClock reader runs unprivileged" && $0.passed })
        }

        /// Under libvirt (QEMU's device through `<qemu:commandline>`): each of
        /// genidd's state loads gives the guest a new counter; libvirt's own
        /// revert shows the snapshot's (the scenario checks that gap too).
        @Test func genidsLoadsUnderLibvirtGiveNewCounters() async throws {
            let kernel = try #require(TestKernels.vmclock)
            let report = try await LabProcess.runPassingScenario(["libvirt-vmclock", "--count", "2", "--kernel", kernel])
            #expect(report.backend == "libvirt")
            let counters = report.restores.map(\.vmclockCounter)
            #expect(counters.count == 3 && counters.allSatisfy { $0 != nil && $0 != "0" }, "\(counters)")
            #expect(Set(counters.compactMap { $0 }).count == counters.count, "a counter repeats: \(counters)")
            #expect(report.checks.contains { $0.name.hasPrefix("libvirt's own revert leaves the snapshot's counter") })
        }

        /// Stock QEMU: after a plain loadvm the guest sees the snapshot's
        /// counter again, and no flag saying the counter is maintained.
        @Test func plainLoadvmLeavesTheSnapshotsCounter() async throws {
            let kernel = try #require(TestKernels.vmclock)
            let report = try await LabProcess.runPassingScenario(["vmclock-revert-unprotected", "--count", "2",
                                                                  "--kernel", kernel])
            #expect(report.restores.map(\.vmclockCounter) == ["0", "0"])
        }
    }
}
