import AgentProtocol
import Foundation
import Libvirt

/// What the Debian guest scenarios ask of a booted Debian guest: systemd's
/// view through the agent's `system` verb, and the serial console, where
/// the image's lab hooks and its unprivileged mmap reader report.
extension LabDomain {
    /// The units the package and the image install, and the target they reach.
    static let debianUnits = ["multi-user.target", "sysgenidd.service", "systemd-udevd.service",
                              "systemd-logind.service", "genid-lab-mmap-reader.service"]

    /// Asks `system` until systemd has finished starting (running or
    /// degraded), or `timeout` passes; the last answer.
    func waitForSystemd(timeout: Duration = .seconds(120)) async throws -> [String: String] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let answer = try await ask(.system, arguments: LabDomain.debianUnits, timeout: .seconds(20))
            guard case .ok(let fields) = answer.outcome else {
                throw LabError.agentError(verb: AgentVerb.system.rawValue, message: "\(answer.outcome)")
            }
            let values = Dictionary(fields.map { ($0.key, $0.value) }, uniquingKeysWith: { $1 })
            let state = values[AgentSystemField.systemState] ?? ""
            if !["initializing", "starting"].contains(state) || ContinuousClock.now >= deadline { return values }
            try await Task.sleep(for: .milliseconds(500))
        }
    }

    /// The serial console so far.
    nonisolated func consoleText() -> String {
        String(decoding: FileManager.default.contents(atPath: consoleLogPath) ?? Data(), as: UTF8.self)
    }
}

/// One line the image's lab hooks write on the console:
/// `genid-lab-hook <name> start|done generation=<n> vmgenid=<value>`.
struct DebianHookLine: Equatable {
    let hook: String
    let phase: String
    let generation: Int
    let value: String

    static func all(in console: String) -> [DebianHookLine] {
        console.split(whereSeparator: \.isNewline).compactMap { line in
            guard let start = line.range(of: "genid-lab-hook ") else { return nil }
            let words = line[start.upperBound...].split(separator: " ")
            guard words.count == 4, words[2].hasPrefix("generation="), words[3].hasPrefix("vmgenid="),
                  let generation = Int(words[2].dropFirst("generation=".count)) else { return nil }
            return DebianHookLine(hook: String(words[0]), phase: String(words[1]), generation: generation,
                                  value: String(words[3].dropFirst("vmgenid=".count)))
        }
    }

    /// The image's two hooks, in the order they must run.
    static let hooks = ["10-genid-lab-quick", "90-genid-lab-slow"]
}

/// The counters the image's unprivileged, static mmap reader printed:
/// `mmap-counter uid=<uid> counter=<n>`.
struct MmapCounterLine: Equatable {
    let uid: Int
    let counter: Int

    static func all(in console: some StringProtocol) -> [MmapCounterLine] {
        console.split(whereSeparator: \.isNewline).compactMap { line in
            guard let start = line.range(of: "mmap-counter uid=") else { return nil }
            let words = line[start.upperBound...].split(separator: " ")
            guard words.count == 2, let uid = Int(words[0]), words[1].hasPrefix("counter="),
                  let counter = Int(words[1].dropFirst("counter=".count)) else { return nil }
            return MmapCounterLine(uid: uid, counter: counter)
        }
    }
}
