import AgentProtocol
import Foundation
import Libvirt

/// Scenarios `debian-shutdown` and `libvirt-shutdown`: `virsh shutdown`
/// (virDomainShutdown, an ACPI power button press) ends the guest cleanly:
/// it powers off by itself and libvirt records a shutdown by the guest, not
/// a destroy or a crash. The Debian guest goes through systemd (logind
/// takes the button, systemd stops its units and reaches poweroff.target);
/// the lab's own guest through busybox's acpid.
public struct ShutdownScenario: Sendable {
    public let settings: LabSettings
    /// true: the Debian guest (`debian-shutdown`); false: the lab's own image.
    public let debian: Bool
    public var timeout: Duration = .seconds(120)

    public init(settings: LabSettings, debian: Bool) {
        self.settings = settings
        self.debian = debian
    }

    public var name: String { debian ? "debian-shutdown" : "libvirt-shutdown" }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async -> LabReport {
        let (timeout, debian) = (self.timeout, self.debian)
        return await LibvirtScenarioContext.report(scenario: name, settings: settings, debian: debian,
                                                   progress: progress) { context in
            // The lab's own guest handles the power button only when asked (GuestInitScript).
            let acpi: (inout LabDomainConfiguration) -> Void = { if !debian { $0.kernelCommandLine += " genid.acpi=1" } }
            try await context.withBootedDomain(configure: acpi) { domain, report in
                if debian { report.checkDebianSystem(try await domain.waitForSystemd()) }
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
                let lines = console.split(whereSeparator: \.isNewline)
                if debian {
                    // systemd's status line, colours and all: "Reached target <esc>…poweroff.target<esc>… - System Power Off."
                    let reached = lines.contains { $0.contains("Reached target") && $0.contains("poweroff.target") }
                    report.check("systemd stopped the system and reached poweroff.target", reached,
                                 reached ? "" : "no such line on the console")
                } else {
                    let handled = lines.contains { $0.contains("genid-lab: ACPI power button: powering off") }
                    report.check("the guest's acpid ran the power button's action", handled,
                                 handled ? "" : "no such line on the console")
                }
                report.check("the kernel powered down", console.contains("reboot: Power down"),
                             console.contains("reboot: Power down") ? "" : "no 'reboot: Power down' on the console")
            }
        }
    }
}
