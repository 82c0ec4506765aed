import AgentProtocol
import Foundation
import Libvirt

/// Scenario `debian-shutdown`: `virsh shutdown` (virDomainShutdown, an
/// ACPI power button press) ends the Debian guest cleanly: systemd stops
/// its units and powers off, and libvirt records a shutdown by the guest,
/// not a destroy or a crash.
public struct DebianShutdownScenario: Sendable {
    public let settings: LabSettings
    public var timeout: Duration = .seconds(120)

    public init(settings: LabSettings) {
        self.settings = settings
    }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async -> LabReport {
        let timeout = self.timeout
        return await LibvirtScenarioContext.report(scenario: "debian-shutdown", settings: settings, debian: true,
                                                   progress: progress) { context in
            try await context.withBootedDomain { domain, report in
                report.checkDebianSystem(try await domain.waitForSystemd())
                progress("virDomainShutdown (ACPI power button)")
                let clock = ContinuousClock()
                let started = clock.now
                try await runBlocking { try domain.domain.shutdown() }
                var state = try domain.domain.state()
                while state.state != .shutOff && clock.now - started < timeout {
                    try await Task.sleep(for: .milliseconds(250))
                    state = try domain.domain.state()
                }
                report.timingsMs["shutdown"] = (clock.now - started).milliseconds
                report.check("the guest powered off within \(Int(timeout.seconds)) s", state.state == .shutOff,
                             "state \(state.state) after \(Int((clock.now - started).milliseconds)) ms")
                report.check("libvirt records a shutdown by the guest", state.isShutOffByGuest,
                             "\(state.state), reason \(state.reason) (libvirt's VIR_DOMAIN_SHUTOFF_* number)")
                let console = domain.consoleText()
                // systemd's status line, colours and all: "Reached target <esc>…poweroff.target<esc>… - System Power Off."
                let reached = console.split(whereSeparator: \.isNewline).contains {
                    $0.contains("Reached target") && $0.contains("poweroff.target")
                }
                report.check("systemd stopped the system and reached poweroff.target", reached,
                             reached ? "" : "no such line on the console")
                report.check("the kernel powered down", console.contains("reboot: Power down"),
                             console.contains("reboot: Power down") ? "" : "no 'reboot: Power down' on the console")
            }
        }
    }
}
