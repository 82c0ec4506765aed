import Foundation
import GenIDControl
import GenerationStore
import OpenLedger
import Libvirt
import VMGenID

/// The shared start of every libvirt scenario: a configured libvirtd, a
/// connection, genidd running against it (with the lab's ledger, or the
/// one `ledger` names), and the report. Everything is torn down on every path.
struct LibvirtScenarioContext {
    let settings: LabSettings
    let image: GuestImage
    let environment: LibvirtEnvironment
    let connection: Connection
    let genidd: LabGenidd
    let ledger: any GenerationStore
    var report: LabReport
    let progress: @Sendable (String) -> Void
    /// The Debian guest's configuration; nil: the lab's own image.
    var baseConfiguration: LabDomainConfiguration?

    /// `debian`: the scenario boots the lab's Debian guest image instead of
    /// the lab's own (`DebianGuestImage`).
    static func report(scenario: String, settings: LabSettings, ledger: String? = nil, debian: Bool = false,
                       progress: @escaping @Sendable (String) -> Void,
                       _ body: (inout LibvirtScenarioContext) async throws -> Void) async -> LabReport {
        var report = LabReport(scenario: scenario, backend: "libvirt")
        report.accelerator = MachineConfiguration.Accelerator.tcg.rawValue
        let environment: LibvirtEnvironment, image: GuestImage, connection: Connection, genidd: LabGenidd
        var debianConfiguration: LabDomainConfiguration?
        do {
            if debian {
                let debianImage = try DebianGuestImage.load(buildDirectory: settings.buildDirectory)
                image = debianImage.guestImage
                debianConfiguration = debianImage.domainConfiguration()
            } else {
                image = try settings.imageBuilder.image(for: settings.kernel, progress: progress)
            }
            report.guestKernel = image.kernel.release
            report.consoleLog = settings.consoleLogPath(scenario: scenario, release: image.kernel.release)
            progress("making sure libvirtd runs with the lab's settings")
            environment = try await LibvirtEnvironment.ensure(progress: progress)
            connection = try environment.connect()
            genidd = try LabGenidd(ledgerPath: ledger ?? settings.ledgerPath, libvirtURI: environment.uri,
                                   runRoot: settings.runRoot)
        } catch {
            return LabReport.failed(scenario, error)
        }
        let genididLog = "\(settings.buildDirectory)/logs/\(scenario)-genidd.log"
        defer {
            genidd.tearDown(keepLogAt: genididLog)
            connection.close()
        }
        var context: LibvirtScenarioContext
        do {
            progress("starting genidd")
            try await genidd.start()
            context = LibvirtScenarioContext(
                settings: settings, image: image, environment: environment, connection: connection, genidd: genidd,
                ledger: try openLedger(at: genidd.ledgerPath), report: report, progress: progress,
                baseConfiguration: debianConfiguration)
        } catch {
            report.error = "\(error)\n--- genidd log ---\n\(genidd.log(lines: 20))"
            report.check("scenario ran to completion", false, "\(error)")
            report.conclude()
            return report
        }
        do {
            try await body(&context)
        } catch {
            context.report.error = "\(error)"
            context.report.check("scenario ran to completion", false, "\(error)")
        }
        if let libvirtVersion = try? connection.libvirtVersion() {
            context.report.qemuVersion = "libvirt \(libvirtVersion.major).\(libvirtVersion.minor).\(libvirtVersion.micro)"
        }
        context.report.conclude()
        return context.report
    }

    var domainConfiguration: LabDomainConfiguration { baseConfiguration ?? LabDomainConfiguration(image: image) }

    /// Defines and starts a domain, waits for its agent, records the boot
    /// time once, runs `body`; the domain is removed on every path.
    mutating func withBootedDomain<T: Sendable>(configure: (inout LabDomainConfiguration) -> Void = { _ in },
                                                _ body: (LabDomain, inout LabReport) async throws -> T) async throws -> T {
        progress("defining and starting a domain (\(image.kernel.release), TCG)")
        var report = self.report
        defer { self.report = report }
        let settings = self.settings
        var configuration = domainConfiguration
        configure(&configuration)
        return try await withLabDomain(configuration, connection: connection, runRoot: settings.runRoot,
                                       keepConsoleLogAt: report.consoleLog) { domain in
            let boot = try await domain.waitForAgent(timeout: settings.agentTimeout)
            if report.timingsMs["boot_to_agent"] == nil { report.timingsMs["boot_to_agent"] = boot.milliseconds }
            return try await body(domain, &report)
        }
    }

    /// genidd's `wait-ready` for the domain (its current value). While
    /// genidd is down (the kill test restarts it) the request is retried.
    func waitReady(_ domain: LabDomain, timeout: Double = 60) async throws -> ReadyReport {
        let client = genidd.client
        let deadline = ContinuousClock.now + .seconds(timeout)
        while true {
            let response: ControlResponse
            do {
                response = try await runBlocking {
                    try client.send(ControlRequest(command: .waitReady, domain: domain.name, timeoutSeconds: timeout))
                }
            } catch where ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
                continue
            }
            guard response.ok, let ready = response.ready else {
                throw LabError.agentProtocol("genidd wait-ready \(domain.name): \(response.error ?? "no answer")")
            }
            return ready
        }
    }

    /// Polls libvirt until the domain's persistent `<genid>` is not `old`
    /// (genidd rewrote it), or `timeout` passes; returns the value then.
    func persistentValue(of domain: Domain, changedFrom old: String?, timeout: Duration = .seconds(20)) async throws
        -> String? {
        let deadline = ContinuousClock.now + timeout
        var value: String?
        repeat {
            value = try DomainXML.genID(in: try domain.xmlDescription(inactive: true)).value
            if value != old { return value }
            try await Task.sleep(for: .milliseconds(100))
        } while ContinuousClock.now < deadline
        return value
    }
}

extension LabReport {
    /// The checks every new generation under libvirt must pass: the guest
    /// sees libvirt's value, never seen before, recorded in the ledger for
    /// this domain, and the guest kernel processed it.
    mutating func checkNewGeneration(label: String, guest: GuestObservation, baseline: GuestObservation,
                                     libvirtValue: String?, domain: String, seen: [GenerationID],
                                     ledger: any GenerationStore) async {
        let value = guest.value?.description
        check("guest value equals libvirt's live value \(label)", value != nil && value == libvirtValue,
              "guest \(value ?? guest.valueError ?? "nothing"), libvirt \(libvirtValue ?? "nothing")")
        check("guest value never seen before \(label)", guest.value.map { !seen.contains($0) } ?? false,
              "guest \(value ?? "nothing"); earlier: \(seen.map(\.description).joined(separator: ", "))")
        let owner = await LabReport.record(of: guest.value, in: ledger)?.vm.name
        check("value recorded in the ledger for \(domain) \(label)", owner == domain,
              "ledger owner: \(owner ?? "not recorded")")
        let forks = (baseline.kernelVMForkCount ?? 0, guest.kernelVMForkCount ?? 0)
        check("guest kernel processed the change \(label)", forks.1 > forks.0, "vmfork lines \(forks.0) -> \(forks.1)")
        checkReaders(after: guest, baseline: baseline, label: label)
    }
}

extension LibvirtScenarioContext {
    /// Defines a domain (not started), runs `body`, removes the domain on every path.
    func withDefinedDomain<T: Sendable>(_ body: (LabDomain) async throws -> T) async throws -> T {
        let domain = try await LabDomain.define(domainConfiguration, connection: connection, runRoot: settings.runRoot)
        do {
            let result = try await body(domain)
            await domain.tearDown()
            return result
        } catch {
            await domain.tearDown()
            throw error
        }
    }

    /// A copy of `source` defined from its persistent XML (see `LabDomain.defineCopy`).
    func withCopy<T: Sendable>(of source: LabDomain, _ body: (LabDomain) async throws -> T) async throws -> T {
        let copy = try await LabDomain.defineCopy(of: source, connection: connection, runRoot: settings.runRoot)
        do {
            let result = try await body(copy)
            await copy.tearDown()
            return result
        } catch {
            await copy.tearDown()
            throw error
        }
    }

    /// Starts a defined domain and waits for its agent; its first observation.
    func startAndObserve(_ domain: LabDomain) async throws -> GuestObservation {
        try await domain.start()
        try await domain.waitForAgent(timeout: settings.agentTimeout)
        return try await domain.observe()
    }

    func persistentValue(of domain: LabDomain) throws -> String? {
        try DomainXML.genID(in: try domain.domain.xmlDescription(inactive: true)).value
    }

    /// The checks of a domain's first run after genidd gave it a fresh value.
    func checkFirstRun(_ report: inout LabReport, label: String, domain: LabDomain, guest: GuestObservation,
                       expected: String?, notAnyOf earlier: [String?]) async {
        let value = guest.value?.description
        report.check("the guest sees the value genidd wrote \(label)", value != nil && value == expected,
                     "guest \(value ?? guest.valueError ?? "nothing"), definition \(expected ?? "none")")
        let earlierValues = earlier.compactMap { $0 }
        report.check("the guest's value was never seen before \(label)", value.map { !earlierValues.contains($0) } ?? false,
                     "guest \(value ?? "nothing"); earlier \(earlierValues.joined(separator: ", "))")
        let record = await LabReport.record(of: guest.value, in: ledger)
        report.check("the value is in the ledger for \(domain.name) \(label)", record?.vm.name == domain.name,
                     "ledger: \(record.map { "\($0.vm.name) \($0.event)" } ?? "not recorded")")
    }
}

extension LabReport {
    /// The ledger's record of `value`; nil when it is not recorded (or the
    /// ledger cannot be read, which the check that uses it then reports).
    static func record(of value: GenerationID?, in ledger: any GenerationStore) async -> GenerationRecord? {
        guard let value else { return nil }
        return try? await ledger.owner(of: value)
    }
}
