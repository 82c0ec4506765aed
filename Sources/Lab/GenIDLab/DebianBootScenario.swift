import AgentProtocol
import Foundation

/// Scenario `debian-boot`: the lab's Debian guest under libvirt reaches
/// multi-user.target with systemd as PID 1, the units the packages and the
/// image install are active, the sysgenid module came from DKMS, and
/// /dev/sysgenid has the udev rule's mode; sysgenidd uses the module.
public struct DebianBootScenario: Sendable {
    public let settings: LabSettings

    public init(settings: LabSettings) {
        self.settings = settings
    }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async -> LabReport {
        await LibvirtScenarioContext.report(scenario: "debian-boot", settings: settings, debian: true,
                                            progress: progress) { context in
            try await context.withBootedDomain { domain, report in
                let clock = ContinuousClock()
                let agentUp = clock.now
                let system = try await domain.waitForSystemd()
                report.timingsMs["agent_to_systemd_settled"] = (clock.now - agentUp).milliseconds
                report.checkDebianSystem(system)
                let status = try await domain.observe()
                report.baselineGuid = status.value?.description
                report.check("sysgenidd uses the kernel module", status.sysgenidProvider == "module",
                             "provider \(status.sysgenidProvider ?? "none")")
                report.check("the guest reads its VMGENID value", status.value != nil, status.valueError ?? "")
                let readers = MmapCounterLine.all(in: domain.consoleText())
                report.check("the static mmap reader maps /dev/sysgenid as an unprivileged user",
                             readers.first.map { $0.uid != 0 && $0.counter == status.sysgenidCounter } == true,
                             readers.first.map { "uid \($0.uid), counter \($0.counter)" } ?? "no line from mmap-counter")
                progress("systemd \(system[AgentSystemField.systemState] ?? "?"), module "
                         + "\(system[AgentSystemField.sysgenidModuleFile] ?? "not loaded")")
            }
        }
    }
}

extension LabReport {
    /// What every Debian guest scenario expects of the booted system.
    mutating func checkDebianSystem(_ system: [String: String]) {
        check("systemd is PID 1", system[AgentSystemField.initName] == "systemd",
              "PID 1: \(system[AgentSystemField.initName] ?? "?")")
        check("systemd finished starting with no failed unit", system[AgentSystemField.systemState] == "running",
              "is-system-running: \(system[AgentSystemField.systemState] ?? "no answer"); failed: "
                + (system[AgentSystemField.failedUnits].map { $0.isEmpty ? "none" : $0 } ?? "?"))
        for unit in LabDomain.debianUnits {
            let state = system[AgentSystemField.unit(unit)]
            check("\(unit) is active", state == "active", state ?? "no answer")
        }
        let module = system[AgentSystemField.sysgenidModuleFile]
        check("the sysgenid module was built and installed by DKMS", module?.hasPrefix("updates/dkms/") == true,
              module ?? "not loaded")
        let mode = system[AgentSystemField.sysgenidDeviceMode]
        check("/dev/sysgenid has the udev rule's mode 0666", mode == "666", mode.map { "0\($0)" } ?? "no device")
    }
}
