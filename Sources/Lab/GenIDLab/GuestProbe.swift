import Foundation

/// A command `genid-lab check` runs inside every restored guest (through
/// the QEMU guest agent, as `/bin/sh -c COMMAND`); what it prints on
/// standard output is compared across the guests.
public struct GuestProbe: Sendable, Codable, Equatable {
    public enum Expectation: String, Sendable, Codable {
        /// Every guest must print something no other guest (nor the source
        /// before the snapshot) printed: random bytes, UUIDs, nonces.
        case distinct
        /// Every guest must print what the source printed before the
        /// snapshot: a value that must survive (a host name, a machine id).
        case equal
    }

    public var name: String
    public var command: String
    public var expectation: Expectation

    public init(name: String, command: String, expectation: Expectation = .distinct) {
        self.name = name
        self.command = command
        self.expectation = expectation
    }

    /// Parses `NAME=COMMAND`: NAME is letters, digits, `.`, `_` or `-`.
    public init(parsing text: String, expectation: Expectation = .distinct) throws {
        guard let equals = text.firstIndex(of: "=") else {
            throw LabError.invalidArgument("a probe is NAME=COMMAND, such as urandom='head -c 16 /dev/urandom | od -An -tx1'; got '\(text)'")
        }
        let name = String(text[..<equals])
        let command = String(text[text.index(after: equals)...])
        guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) else {
            throw LabError.invalidArgument("probe name '\(name)' must be letters, digits, '.', '_' or '-'")
        }
        guard !command.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw LabError.invalidArgument("probe '\(name)' has no command")
        }
        self.init(name: name, command: command, expectation: expectation)
    }
}

/// What one guest printed for one probe, or why it printed nothing usable.
public struct ProbeOutput: Sendable, Codable, Equatable {
    /// `source` (before the snapshot), `clone-N` or `revert-N`.
    public var instance: String
    public var output: String?
    public var exitCode: Int?
    /// Set when the command failed or could not run: then `output` does not count.
    public var error: String?
    /// From the request to the agent's report of the exit.
    public var elapsedMs: Double?

    public init(instance: String, output: String? = nil, exitCode: Int? = nil, error: String? = nil,
                elapsedMs: Double? = nil) {
        self.instance = instance
        self.output = output
        self.exitCode = exitCode
        self.error = error
        self.elapsedMs = elapsedMs
    }

    enum CodingKeys: String, CodingKey { case instance, output, error, exitCode = "exit_code", elapsedMs = "elapsed_ms" }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(instance, forKey: .instance)
        try container.encode(output, forKey: .output)
        try container.encode(exitCode, forKey: .exitCode)
        try container.encode(error, forKey: .error)
        try container.encode(elapsedMs, forKey: .elapsedMs)
    }
}

/// One probe's outcome in one mode: every output, and whether the
/// expectation held.
public struct ProbeVerdict: Sendable, Codable, Equatable {
    public var probe: String
    public var command: String
    public var expect: GuestProbe.Expectation
    /// `genid` or `without-genid`.
    public var mode: String
    public var source: ProbeOutput
    public var outputs: [ProbeOutput]
    /// Whether the outputs after the snapshot are pairwise distinct and
    /// differ from the source's.
    public var distinct: Bool
    /// Groups of instances that printed the same output, the source
    /// included: each group has two or more.
    public var collisions: [[String]]
    /// Instances whose command failed.
    public var failed: [String]
    public var passed: Bool

    /// Judges `outputs` (one per guest after the snapshot) against the
    /// source's output taken before it.
    public init(probe: GuestProbe, mode: String, source: ProbeOutput, outputs: [ProbeOutput]) {
        self.probe = probe.name
        self.command = probe.command
        self.expect = probe.expectation
        self.mode = mode
        self.source = source
        self.outputs = outputs
        failed = ([source] + outputs).filter { $0.error != nil }.map(\.instance)
        var byOutput: [String: [String]] = [:]
        var order: [String] = []
        for entry in [source] + outputs where entry.error == nil {
            let key = entry.output ?? ""
            if byOutput[key] == nil { order.append(key) }
            byOutput[key, default: []].append(entry.instance)
        }
        collisions = order.compactMap { byOutput[$0] }.filter { $0.count > 1 }
        distinct = failed.isEmpty && collisions.isEmpty
        switch probe.expectation {
        case .distinct:
            passed = distinct
        case .equal:
            passed = failed.isEmpty && outputs.allSatisfy { $0.output == source.output }
        }
    }

    /// One line for people: what held, or which guests broke it.
    public var summary: String {
        if !failed.isEmpty {
            let first = ([source] + outputs).first { $0.error != nil }
            return "the probe failed in \(failed.joined(separator: ", ")): \(first?.error ?? "")"
        }
        switch expect {
        case .distinct:
            if passed { return "\(outputs.count) outputs, pairwise distinct and unlike the source's" }
            return collisions.map { "\(spokenList($0)) printed the same output" }.joined(separator: "; ")
        case .equal:
            if passed { return "\(outputs.count) outputs, each equal to the source's" }
            let differing = outputs.filter { $0.output != source.output }.map(\.instance)
            return "\(spokenList(differing)) printed something else than the source"
        }
    }

    /// "a and b", "a, b and c".
    private func spokenList(_ names: [String]) -> String {
        guard names.count > 1 else { return names.first ?? "" }
        return names.dropLast().joined(separator: ", ") + " and " + names.last!
    }

    enum CodingKeys: String, CodingKey {
        case probe, command, expect, mode, source, outputs, distinct, collisions, failed, passed
    }
}
