import Foundation

/// The JSON every scenario prints (Documentation/lab-report.md): what was
/// checked, what the host gave, what the guest saw, how long it took.
public struct LabReport: Codable, Sendable {
    public struct Check: Codable, Sendable {
        public var name: String
        public var passed: Bool
        public var detail: String
    }

    public struct Restore: Codable, Sendable {
        public var hostGuid: String?
        public var guestGuid: String?
        public var guestObservedChange: Bool?
        public var sysgenidBefore: Int?
        public var sysgenidAfter: Int?
        public var elapsedMs: Double?
        /// The last generation the guest agent's blocking read(), poll()
        /// and mmap readers saw after this restore (inside the guest); nil
        /// where that reader does not run.
        public var readerBlocking: Int?
        public var readerPoll: Int?
        public var readerMmap: Int?
        /// The last `vm_generation_counter` the guest's unprivileged
        /// VMClock reader saw after this restore (decimal: a 64-bit value);
        /// nil when the guest has no `/dev/vmclock0`.
        public var vmclockCounter: String?

        public init(hostGuid: String? = nil, guestGuid: String? = nil, guestObservedChange: Bool? = nil,
                    sysgenidBefore: Int? = nil, sysgenidAfter: Int? = nil, elapsedMs: Double? = nil,
                    readerBlocking: Int? = nil, readerPoll: Int? = nil, readerMmap: Int? = nil) {
            self.hostGuid = hostGuid
            self.guestGuid = guestGuid
            self.guestObservedChange = guestObservedChange
            self.sysgenidBefore = sysgenidBefore
            self.sysgenidAfter = sysgenidAfter
            self.elapsedMs = elapsedMs
            self.readerBlocking = readerBlocking
            self.readerPoll = readerPoll
            self.readerMmap = readerMmap
        }

        enum CodingKeys: String, CodingKey {
            case hostGuid = "host_guid", guestGuid = "guest_guid", guestObservedChange = "guest_observed_change"
            case sysgenidBefore = "sysgenid_before", sysgenidAfter = "sysgenid_after", elapsedMs = "elapsed_ms"
            case readerBlocking = "reader_blocking", readerPoll = "reader_poll", readerMmap = "reader_mmap"
            case vmclockCounter = "vmclock_counter"
        }

        // Absent values are written as null, as the report format shows them.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(hostGuid, forKey: .hostGuid)
            try container.encode(guestGuid, forKey: .guestGuid)
            try container.encode(guestObservedChange, forKey: .guestObservedChange)
            try container.encode(sysgenidBefore, forKey: .sysgenidBefore)
            try container.encode(sysgenidAfter, forKey: .sysgenidAfter)
            try container.encode(elapsedMs, forKey: .elapsedMs)
            try container.encode(readerBlocking, forKey: .readerBlocking)
            try container.encode(readerPoll, forKey: .readerPoll)
            try container.encode(readerMmap, forKey: .readerMmap)
            try container.encode(vmclockCounter, forKey: .vmclockCounter)
        }
    }

    public var scenario: String
    public var passed: Bool
    public var backend: String
    public var guestKernel: String?
    public var baselineGuid: String?
    public var restores: [Restore] = []
    public var checks: [Check] = []
    public var timingsMs: [String: Double] = [:]
    public var accelerator: String?
    public var qemuVersion: String?
    public var consoleLog: String?
    /// Why the scenario stopped early, if it did.
    public var error: String?
    /// What a kill test disturbed, and when (one line each).
    public var chaos: [String]?
    /// `genid-lab check`: each probe's outputs and verdict.
    public var probes: [ProbeVerdict]?

    // Explicit keys: a key strategy would also rewrite the keys of timings_ms.
    enum CodingKeys: String, CodingKey {
        case scenario, passed, backend, restores, checks, accelerator, error, chaos, probes
        case guestKernel = "guest_kernel", baselineGuid = "baseline_guid", timingsMs = "timings_ms"
        case qemuVersion = "qemu_version", consoleLog = "console_log"
    }

    /// The fields of the report format are always present (null when
    /// unknown); the extra ones only when set.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(scenario, forKey: .scenario)
        try container.encode(passed, forKey: .passed)
        try container.encode(backend, forKey: .backend)
        try container.encode(guestKernel, forKey: .guestKernel)
        try container.encode(baselineGuid, forKey: .baselineGuid)
        try container.encode(restores, forKey: .restores)
        try container.encode(checks, forKey: .checks)
        try container.encode(timingsMs, forKey: .timingsMs)
        try container.encodeIfPresent(accelerator, forKey: .accelerator)
        try container.encodeIfPresent(qemuVersion, forKey: .qemuVersion)
        try container.encodeIfPresent(consoleLog, forKey: .consoleLog)
        try container.encodeIfPresent(error, forKey: .error)
        try container.encodeIfPresent(chaos, forKey: .chaos)
        try container.encodeIfPresent(probes, forKey: .probes)
    }

    public init(scenario: String, backend: String) {
        self.scenario = scenario
        self.backend = backend
        self.passed = false
    }

    /// A report for a scenario that could not even start.
    public static func failed(_ scenario: String, _ error: any Error) -> LabReport {
        var report = LabReport(scenario: scenario, backend: "qemu")
        report.error = "\(error)"
        report.check("scenario ran to completion", false, "\(error)")
        report.conclude()
        return report
    }

    /// Records a check; a check that could not run is recorded as failed.
    public mutating func check(_ name: String, _ passed: Bool, _ detail: String = "") {
        checks.append(Check(name: name, passed: passed, detail: detail))
    }

    /// Sets `passed`: every check passed, there was at least one, and the
    /// scenario did not stop early.
    public mutating func conclude() {
        passed = error == nil && !checks.isEmpty && checks.allSatisfy(\.passed)
    }

    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Encoding plain values and strings cannot fail.
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }

    public static func decode(_ data: Data) throws -> LabReport {
        try JSONDecoder().decode(LabReport.self, from: data)
    }

    /// A few lines for people, for runs without --json.
    public func summary() -> String {
        var lines = ["scenario \(scenario): \(passed ? "PASSED" : "FAILED")"
                     + (guestKernel.map { " (guest kernel \($0))" } ?? "")]
        for check in checks {
            lines.append("  [\(check.passed ? "ok" : "FAIL")] \(check.name)" + (check.detail.isEmpty ? "" : ": \(check.detail)"))
        }
        for (name, value) in timingsMs.sorted(by: { $0.key < $1.key }) {
            lines.append("  \(name): \(String(format: "%.1f", value)) ms")
        }
        if let error { lines.append("  error: \(error)") }
        if let consoleLog { lines.append("  guest console log: \(consoleLog)") }
        return lines.joined(separator: "\n")
    }
}
