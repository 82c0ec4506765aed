import GuestAgent
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
    var sysgenidProvider: String?
    /// The last generation the agent's blocking read(), poll() and mmap
    /// readers saw; nil while that reader does not run.
    var readerBlocking: Int?
    var readerPoll: Int?
    var readerMmap: Int?

    /// Every `vm_generation_counter` the guest's unprivileged VMClock
    /// reader logged, in order; nil without `/dev/vmclock0`.
    var vmclockCounters: [UInt64]?
    var vmclockFlags: UInt64?
    var vmclockReaderUID: Int?

    var readers: [Int?] { [readerBlocking, readerPoll, readerMmap] }

    /// Whether the guest kernel processed a VMGENID change since `baseline`
    /// (its vmfork count moved); nil when either count is unknown.
    func forked(since baseline: GuestObservation) -> Bool? {
        guard let before = baseline.kernelVMForkCount, let now = kernelVMForkCount else { return nil }
        return now > before
    }

    /// Every running reader has seen the current counter (true when no reader runs).
    /// Every reader saw the counter. A guest that runs readers runs all
    /// three: one that has seen nothing yet (its thread not scheduled before
    /// a snapshot, on a loaded host) is still to catch up, not caught up.
    /// A guest without readers has nothing to wait for.
    var readersCaughtUp: Bool {
        readers.allSatisfy { $0 == nil } || readers.allSatisfy { $0 == sysgenidCounter }
    }

    init(_ status: AgentResponse) {
        value = status[AgentStatusField.vmgenid].flatMap(GenerationID.init)
        valueError = status[AgentStatusField.vmgenidError]
        kernelVMForkCount = status["kernel_vmfork_count"].flatMap { Int($0) }
        sysgenidCounter = status["sysgenid_counter"].flatMap { Int($0) }
        sysgenidProvider = status[AgentStatusField.sysgenidProvider]
        readerBlocking = status[AgentStatusField.readerBlocking].flatMap { Int($0) }
        readerPoll = status[AgentStatusField.readerPoll].flatMap { Int($0) }
        readerMmap = status[AgentStatusField.readerMmap].flatMap { Int($0) }
        vmclockCounters = status[AgentStatusField.vmclockCounters].map {
            $0.split(separator: ",").compactMap { UInt64($0) }
        }
        vmclockFlags = status[AgentStatusField.vmclockFlags].flatMap { UInt64($0) }
        vmclockReaderUID = status[AgentStatusField.vmclockReaderUID].flatMap { Int($0) }
    }
}

/// Anything the lab can ask the guest agent through: a QEMU machine or a
/// libvirt domain.
protocol AgentAsking: Actor {
    func ask(_ verb: AgentVerb, arguments: [String], timeout: Duration) async throws -> AgentResponse
}

extension Machine: AgentAsking {}
extension LabDomain: AgentAsking {}

extension AgentAsking {
    func observe() async throws -> GuestObservation {
        GuestObservation(try await ask(.status, arguments: [], timeout: .seconds(10)))
    }

    /// Where nothing should change, there is nothing to wait for: give the
    /// guest the time a change would take to show, then look.
    func observeAfterSettling() async throws -> GuestObservation {
        try await Task.sleep(for: .seconds(2))
        return try await observe()
    }

    /// Polls the agent until the guest's VMClock reader has seen a counter
    /// that is not among `seen`, or `timeout` passes; returns the last
    /// observation. (A revert rewinds the reader's log with the guest, to
    /// a counter seen before: neither its length nor its last entry tells
    /// that the reader looked again.)
    func observeVMClockChange(notAmong seen: [UInt64], timeout: Duration = .seconds(10)) async throws
        -> GuestObservation {
        let deadline = ContinuousClock.now + timeout
        var last = try await observe()
        while ContinuousClock.now < deadline, last.vmclockCounters?.last.map(seen.contains) ?? true {
            try await Task.sleep(for: .milliseconds(100))
            last = try await observe()
        }
        return last
    }

    /// Polls the agent until the guest kernel has processed a change beyond
    /// `baseline` (its vmfork count moved), the sysgenid counter moved, and
    /// every running reader (blocking, poll, mmap) has caught up with the
    /// counter, or `timeout` passes. Returns the last observation either
    /// way: the caller judges it.
    func observeChange(after baseline: GuestObservation, timeout: Duration = .seconds(10)) async throws
        -> GuestObservation {
        let deadline = ContinuousClock.now + timeout
        var last = try await observe()
        while ContinuousClock.now < deadline {
            if let now = last.kernelVMForkCount, let before = baseline.kernelVMForkCount, now > before,
               last.sysgenidCounter == nil || last.sysgenidCounter != baseline.sysgenidCounter,
               last.readersCaughtUp {
                return last
            }
            try await Task.sleep(for: .milliseconds(100))
            last = try await observe()
        }
        return last
    }
}

extension LabReport {
    /// One check per reader: after a change, the blocking, poll and mmap
    /// readers in the guest each saw the new generation (equal to the
    /// counter after, above the counter before). A reader that does not run
    /// fails its check.
    mutating func checkReaders(after: GuestObservation, baseline: GuestObservation, label: String) {
        for (kind, seen) in [("blocking", after.readerBlocking), ("poll", after.readerPoll), ("mmap", after.readerMmap)] {
            let passed = seen != nil && seen == after.sysgenidCounter
                && baseline.sysgenidCounter.map { seen! > $0 } == true
            check("\(kind) reader saw the new generation \(label)", passed,
                  "reader \(seen.map(String.init) ?? "not running"), counter "
                    + "\(baseline.sysgenidCounter.map(String.init) ?? "?") -> \(after.sysgenidCounter.map(String.init) ?? "?")")
        }
    }

    /// The guest runs the provider the scenario asked for.
    mutating func checkProvider(_ expected: SysGenIDABIScenario.Provider, _ observation: GuestObservation) {
        check("the guest's sysgenid provider is \(expected.rawValue)", observation.sysgenidProvider == expected.rawValue,
              "agent reports \(observation.sysgenidProvider ?? "nothing"), counter "
                + "\(observation.sysgenidCounter.map(String.init) ?? "none")")
    }
}

extension LabReport.Restore {
    /// The restore entry for a change: what the host gave and what the guest saw.
    init(host: String?, baseline: GuestObservation, after: GuestObservation, observedChange: Bool?, elapsedMs: Double?) {
        self.init(hostGuid: host, guestGuid: after.value?.description, guestObservedChange: observedChange,
                  sysgenidBefore: baseline.sysgenidCounter, sysgenidAfter: after.sysgenidCounter, elapsedMs: elapsedMs,
                  readerBlocking: after.readerBlocking, readerPoll: after.readerPoll, readerMmap: after.readerMmap)
        vmclockCounter = after.vmclockCounters?.last.map(String.init)
    }
}
