import Foundation

/// The guest kernel series the integration tests boot: GENID_TEST_KERNELS
/// (separated by commas or spaces), else the host stack's two, 6.1 and 6.12. The newer
/// stack's run (Tests/newer-stack) sets 6.12 and Debian 13's 7.x.
enum TestKernels {
    static let all: [String] = {
        let listed = ProcessInfo.processInfo.environment["GENID_TEST_KERNELS"]?
            .split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init) ?? []
        return listed.isEmpty ? ["6.1", "6.12"] : listed
    }()

    /// The kernel of the tests that boot one kernel only.
    static var primary: String { all[0] }

    /// The guest kernel for the VMClock tests (GENID_TEST_VMCLOCK_KERNEL):
    /// set only where QEMU has `-device vmclock`, by Tests/newer-stack.
    static let vmclock: String? = ProcessInfo.processInfo.environment["GENID_TEST_VMCLOCK_KERNEL"]
        .flatMap { $0.isEmpty ? nil : $0 }
}
