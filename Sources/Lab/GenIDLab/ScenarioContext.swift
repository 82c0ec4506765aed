import Foundation
import VMGenID
import GenIDHost
import GenerationStore
import SQLiteGenerationStore
import QMP

/// Boots the scenario's machine and keeps the report: the shared start of
/// every QEMU scenario.
struct ScenarioContext {
    let settings: LabSettings
    let image: GuestImage
    let ledger: any GenerationStore
    var report: LabReport
    /// `-device vmgenid,guid=` for every machine of the scenario, as libvirt
    /// starts QEMU (source and migration destination alike); nil: QEMU picks.
    var initialGenerationID: GenerationID?
    let progress: @Sendable (String) -> Void
    /// The sysgenid provider the guest runs (`genid.provider=` on the kernel
    /// command line); nil leaves the guest's default (userspace).
    let provider: SysGenIDABIScenario.Provider?
    /// Whether machines get `-device vmclock`.
    var vmclock = false
    /// Changes every machine of the scenario (machine type, NUMA nodes).
    var machine: @Sendable (inout MachineConfiguration) -> Void = { _ in }

    init(scenario: String, settings: LabSettings, provider: SysGenIDABIScenario.Provider? = nil,
         progress: @escaping @Sendable (String) -> Void) throws {
        self.settings = settings
        self.provider = provider
        self.progress = progress
        report = LabReport(scenario: scenario, backend: "qemu")
        report.accelerator = settings.accelerator.rawValue
        image = try settings.imageBuilder.image(for: settings.kernel, progress: progress)
        report.guestKernel = image.kernel.release
        report.consoleLog = settings.consoleLogPath(scenario: scenario, release: image.kernel.release)
        ledger = try SQLiteGenerationStore(path: settings.ledgerPath)
    }

    func configuration(incoming: Bool = false) -> MachineConfiguration {
        var configuration = MachineConfiguration(image: image)
        configuration.accelerator = settings.accelerator
        configuration.incoming = incoming
        configuration.initialGenerationID = initialGenerationID?.description
        configuration.vmclock = vmclock
        if let provider { configuration.kernelCommandLine += " genid.provider=\(provider.rawValue)" }
        machine(&configuration)
        return configuration
    }

    /// Boots a machine, connects QMP and the agent, records the boot time
    /// once, and runs `body`; the machine is shut down on every path.
    mutating func withBootedMachine<T: Sendable>(incoming: Bool = false, consoleLog: String? = nil,
                                                  _ body: (Machine, inout LabReport) async throws -> T) async throws -> T {
        progress("booting \(image.kernel.release) under \(settings.accelerator.rawValue)"
                    + (provider.map { " with the \($0.rawValue) provider" } ?? ""))
        var report = self.report
        defer { self.report = report }
        return try await withMachine(configuration(incoming: incoming), runRoot: settings.runRoot,
                                     keepConsoleLogAt: consoleLog ?? self.report.consoleLog) { machine in
            let qmp = try await machine.connectQMP()
            report.qemuVersion = qmp.greeting.version.description
            if !incoming {
                let bootTime = try await machine.waitForAgent(timeout: settings.agentTimeout)
                if report.timingsMs["boot_to_agent"] == nil { report.timingsMs["boot_to_agent"] = bootTime.milliseconds }
            }
            return try await body(machine, &report)
        }
    }

    /// A ledger name unique to this machine.
    static func vmName(_ machine: Machine) -> String {
        "lab/" + (machine.directory.path as NSString).lastPathComponent
    }

    /// Runs a scenario: makes its context, runs `body`, and concludes the
    /// report; any error (also from making the context) ends it as failed.
    static func report(scenario: String, settings: LabSettings, provider: SysGenIDABIScenario.Provider?,
                       progress: @escaping @Sendable (String) -> Void,
                       _ body: (inout ScenarioContext) async throws -> Void) async -> LabReport {
        var context: ScenarioContext
        do {
            context = try ScenarioContext(scenario: scenario, settings: settings, provider: provider, progress: progress)
        } catch {
            return LabReport.failed(scenario, error)
        }
        do {
            try await body(&context)
            return context.finish(nil)
        } catch {
            return context.finish(error)
        }
    }

    /// Finishes the report; an error ends it as failed with the reason.
    mutating func finish(_ error: (any Error)?) -> LabReport {
        if let error {
            report.error = "\(error)"
            report.check("scenario ran to completion", false, "\(error)")
        }
        report.conclude()
        return report
    }
}
