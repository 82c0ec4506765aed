import AgentProtocol
import Foundation
import VMGenID

/// What the guest agent says about the guest's generation at one moment.
struct GuestObservation: Sendable {
    var value: GenerationID?
    var valueError: String?
    /// `random: crng reseeded due to virtual machine fork` lines in the
    /// guest kernel log: the guest kernel processed a VMGENID change.
    var kernelVMForkCount: Int?
    var sysgenidCounter: Int?

    init(_ status: AgentResponse) {
        value = status[AgentStatusField.vmgenid].flatMap(GenerationID.init)
        valueError = status[AgentStatusField.vmgenidError]
        kernelVMForkCount = status["kernel_vmfork_count"].flatMap { Int($0) }
        sysgenidCounter = status["sysgenid_counter"].flatMap { Int($0) }
    }
}

extension Machine {
    func observe() async throws -> GuestObservation {
        GuestObservation(try await ask(.status))
    }

    /// Polls the agent until the guest kernel has processed a change beyond
    /// `baseline` (its vmfork count moved), or `timeout` passes. Returns the
    /// last observation either way: the caller judges it.
    func observeChange(after baseline: GuestObservation, timeout: Duration = .seconds(10)) async throws
        -> GuestObservation {
        let deadline = ContinuousClock.now + timeout
        var last = try await observe()
        while ContinuousClock.now < deadline {
            if let now = last.kernelVMForkCount, let before = baseline.kernelVMForkCount, now > before,
               last.sysgenidCounter == nil || last.sysgenidCounter != baseline.sysgenidCounter {
                return last
            }
            try await Task.sleep(for: .milliseconds(100))
            last = try await observe()
        }
        return last
    }
}
