import GuestAgent
import AgentProtocol
import Foundation

/// Scenario `sysgenid-abi`: boot a guest with one sysgenid provider (the
/// kernel module, or sysgenidd's userspace provider), have the agent run the
/// in-guest conformance suite (`sysgenidctl conformance`) against it, and
/// report every check of the suite as a check of the report.
public struct SysGenIDABIScenario: Sendable {
    public static let name = "sysgenid-abi"

    public enum Provider: String, Sendable, CaseIterable {
        case module, userspace

        /// The suite's name for it.
        var suiteName: String { self == .module ? "device" : "userspace" }
    }

    public let settings: LabSettings
    public var provider: Provider
    /// How long the suite may run in the guest (TCG is slow).
    public var suiteTimeout: Duration = .seconds(900)

    public init(settings: LabSettings, provider: Provider = .module) {
        self.settings = settings
        self.provider = provider
    }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async -> LabReport {
        await ScenarioContext.report(scenario: SysGenIDABIScenario.name, settings: settings, provider: provider,
                                     progress: progress) { context in
            let kernel = context.image.kernel
            let log = settings.consoleLogPath(scenario: "\(SysGenIDABIScenario.name)-\(provider.rawValue)",
                                              release: kernel.release)
            context.report.consoleLog = log
            try await context.withBootedMachine(consoleLog: log) { machine, report in
                let status = try await machine.ask(.status)
                let release = status[AgentStatusField.kernelRelease] ?? "(none)"
                report.check("guest runs the selected kernel", release == kernel.release,
                             "guest \(release), selected \(kernel.release)")
                let active = status[AgentStatusField.sysgenidProvider] ?? "(not reported)"
                report.check("the guest's sysgenid provider is \(provider.rawValue)", active == provider.rawValue,
                             "agent reports \(active), counter \(status[AgentStatusField.sysgenidCounter] ?? "none")")

                progress("running the conformance suite in the guest (\(provider.suiteName))")
                guard let agent = await machine.agent else { throw LabError.agentProtocol("the agent is not connected") }
                let start = ContinuousClock.now
                let response = try await agent.request(.conformance, arguments: [provider.suiteName, "fresh"],
                                                       timeout: suiteTimeout)
                report.timingsMs["conformance"] = (ContinuousClock.now - start).milliseconds
                record(response, in: &report)
                try await checkAgentVerbs(agent, in: &report)
            }
        }
    }

    /// The agent's sysgenid verbs against the same provider, after the suite.
    func checkAgentVerbs(_ agent: AgentClient, in report: inout LabReport) async throws {
        let status = try await agent.request(.status)
        report.check("agent status reports the sysgenid counter and the kernel's vmfork count",
                     status[AgentStatusField.sysgenidCounter].flatMap(UInt32.init) != nil
                        && status[AgentStatusField.kernelVMForkCount].flatMap(Int.init) != nil,
                     "sysgenid_counter \(status[AgentStatusField.sysgenidCounter] ?? "absent"), "
                        + "kernel_vmfork_count \(status[AgentStatusField.kernelVMForkCount] ?? "absent")")
        let watchers = try await agent.request(.watchers)
        let known = watchers[AgentSysGenIDField.watchersKnown]
        report.check("agent watchers answers (counts known for the userspace provider only)",
                     provider == .module ? known == "0" : (known == "1" && watchers[AgentSysGenIDField.outdated] == "0"),
                     "watchers_known \(known ?? "absent"), tracked \(watchers[AgentSysGenIDField.tracked] ?? "-"), "
                        + "outdated \(watchers[AgentSysGenIDField.outdated] ?? "-")")
        let wait = try await agent.request(.waitWatchers, arguments: WaitWatchersArguments(timeoutMilliseconds: 2000).arguments,
                                              timeout: .seconds(30))
        var detail = "elapsed \(wait[AgentSysGenIDField.elapsedMilliseconds] ?? "-") ms"
        if case .error(let message) = wait.outcome { detail = message }
        report.check("agent wait-watchers returns at once with no outdated watcher",
                     wait[AgentSysGenIDField.elapsedMilliseconds].flatMap(Int.init).map { $0 < 1000 } ?? false, detail)
    }

    /// One report check per suite check, named `<section>: <name>`, and one
    /// for the whole suite with its counts.
    func record(_ response: AgentResponse, in report: inout LabReport) {
        if case .error(let message) = response.outcome {
            report.check("the agent ran the conformance suite", false, message)
            return
        }
        let checks = SysGenIDABIScenario.parseResults(response[AgentSysGenIDField.results] ?? "")
        var seen: [String: Int] = [:]
        for check in checks {
            var name = "\(check.section): \(check.name)"
            seen[name, default: 0] += 1
            if let count = seen[name], count > 1 { name += " (\(count))" }
            report.check(name, check.passed, check.detail)
        }
        if checks.isEmpty {
            report.check("the conformance suite reported checks", false,
                         String((response[AgentSysGenIDField.results] ?? "").suffix(2000)))
        }
        let failed = checks.filter { !$0.passed }.count
        let exitStatus = response["exit_status"] ?? "?"
        report.check("conformance suite (\(provider.suiteName)): \(checks.count) checks, all passed",
                     !checks.isEmpty && failed == 0 && exitStatus == "0",
                     "\(checks.count - failed) passed, \(failed) failed, sysgenidctl exit status \(exitStatus), "
                        + "\(response[AgentSysGenIDField.elapsedMilliseconds] ?? "?") ms in the guest")
    }

    struct SuiteCheck: Equatable {
        var section: String, name: String, passed: Bool, detail: String
    }

    /// `PASS|FAIL<TAB>section<TAB>name<TAB>detail` lines.
    static func parseResults(_ text: String) -> [SuiteCheck] {
        text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard fields.count >= 3, fields[0] == "PASS" || fields[0] == "FAIL" else { return nil }
            return SuiteCheck(section: fields[1], name: fields[2], passed: fields[0] == "PASS",
                              detail: fields.count > 3 ? fields[3...].joined(separator: " ") : "")
        }
    }
}
