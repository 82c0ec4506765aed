import Foundation
import GenIDControl
import GenIDHost
import GenIDPolicy
import GenerationLedger
import Libvirt
import Logging

/// Applies the policy table to libvirt's domains: one event (or one
/// reconciliation pass) at a time, always on the domain as it is *now*, so
/// handling the same situation twice does nothing the second time. Every
/// value genidd gives goes into the ledger before it reaches the domain.
actor DomainGuard {
    private let configuration: DaemonConfiguration
    let ledger: GenerationLedger
    let readiness: ReadinessGate
    private let metrics: DaemonMetrics
    private let logger: Logger
    private var connection: Connection?
    private var notes: [String: Note] = [:]

    struct Note {
        var lastAction: String?
        var lastError: String?
    }

    init(configuration: DaemonConfiguration, ledger: GenerationLedger, readiness: ReadinessGate,
         metrics: DaemonMetrics, logger: Logger) {
        self.configuration = configuration
        self.ledger = ledger
        self.readiness = readiness
        self.metrics = metrics
        self.logger = logger
    }

    func attach(_ connection: Connection?) { self.connection = connection }

    // MARK: Events

    func handle(_ event: DomainLifecycleEvent) async {
        let policyEvent = PolicyEvent(event.kind)
        let rule = GenIDPolicy.rule(for: policyEvent)
        metrics.event(rule: rule.rawValue)
        logger.debug("event", metadata: ["domain": "\(event.domainName)", "event": "\(policyEvent)", "rule": "\(rule)"])
        switch policyEvent {
        case .stopped, .undefined, .crashed:
            await readiness.forget(domain: event.domainName, reason: "the domain stopped (\(policyEvent))")
        default: break
        }
        guard rule != .ignored, let connection else { return }
        guard let domain = try? connection.domain(uuid: event.domainUUID) else { return }  // gone meanwhile
        await apply(policyEvent, to: domain)
    }

    /// Looks at every domain: catches what happened while genidd was away.
    func reconcile() async {
        guard let connection else { return }
        let domains: [Domain]
        do {
            domains = try connection.allDomains()
        } catch {
            logger.error("reconciliation: cannot list domains", metadata: ["error": "\(error)"])
            return
        }
        logger.info("reconciling", metadata: ["domains": "\(domains.count)"])
        for domain in domains { await apply(.reconcile, to: domain) }
    }

    private func apply(_ event: PolicyEvent, to domain: Domain) async {
        let name = domain.name
        do {
            if GenIDPolicy.rule(for: event) == .stateLoaded { await settleGuestMemory(domain) }
            let snapshot = try DomainSnapshot.take(domain)
            let action = GenIDPolicy.action(for: event, domain: try snapshot.facts(ledger: ledger))
            notes[name, default: Note()].lastAction = "\(event): \(action)"
            if case .none = action {
                logger.debug("no action", metadata: ["domain": "\(name)", "event": "\(event)", "action": "\(action)"])
            } else {
                logger.info("policy", metadata: ["domain": "\(name)", "event": "\(event)", "action": "\(action)"])
            }
            try await execute(action, event: event, snapshot: snapshot)
        } catch {
            notes[name, default: Note()].lastError = "\(event): \(error)"
            metrics.failure("policy")
            logger.error("action failed", metadata: ["domain": "\(name)", "event": "\(event)", "error": "\(error)"])
            _ = try? ledger.audit(vm: name, kind: "genidd-failure", message: "\(event): \(error)")
        }
    }

    private func execute(_ action: PolicyAction, event: PolicyEvent, snapshot: DomainSnapshot) async throws {
        switch action {
        case .none:
            if snapshot.isActive, let value = snapshot.liveValue { await beginReadiness(snapshot, value: value) }
        case .checkFreshAndRecord:
            guard let value = snapshot.liveValue else { return }
            try recordObserved(snapshot.name, value: value, event: LedgerEvent.live(Self.eventName(event)),
                               detail: snapshot.guestValue == nil ? "not verified in guest memory" : "seen in guest memory")
            metrics.check(snapshot.guestValue == nil ? "unverified" : "fresh")
            metrics.rotation("libvirt")
            metrics.action("check-and-record")
            if let error = snapshot.guestMemoryError { notes[snapshot.name, default: Note()].lastError = error }
            await beginReadiness(snapshot, value: value)
        case .rotateLive(let reason):
            metrics.check("stale")
            _ = try await rotateLive(snapshot.domain, reason: reason)
        case .writePersistentGenID(let reason):
            try writePersistent(snapshot, why: event == .defined(.fromSnapshot) ? "inactive-revert" : "reconcile",
                                reason: reason)
        case .giveNewValue(let reason):
            try writePersistent(snapshot, why: "clone", reason: reason)
            if snapshot.isActive, let live = snapshot.liveValue,
               let owner = try ledger.record(for: live)?.vm, owner != snapshot.name {
                _ = try await rotateLive(snapshot.domain, reason: "runs with the value of domain '\(owner)'")
            }
        case .recordPersistentValue:
            guard let value = snapshot.persistentValue else { return }
            try recordObserved(snapshot.name, value: value, event: LedgerEvent.persistent("defined"), detail: nil)
            metrics.action("record-persistent")
        case .reportMissingGenID:
            notes[snapshot.name, default: Note()].lastError = DaemonError.noGenID(domain: snapshot.name).description
        }
    }

    /// Records a value genid did not choose. Another handler (or an earlier
    /// genidd) may have recorded it for this domain already: that is fine.
    private func recordObserved(_ name: String, value: String, event: String, detail: String?) throws {
        do {
            try ledger.record(vm: name, value: value, event: event, detail: detail, origin: .observed)
        } catch LedgerError.valueAlreadyIssued(_, let owner, _) where owner == name {
            return
        }
    }

    /// A fresh value into the persistent definition: ledger first, then libvirt.
    private func writePersistent(_ snapshot: DomainSnapshot, why: String, reason: String) throws {
        guard let connection else { throw DaemonError.libvirtUnavailable("not connected") }
        let record = try ledger.issueFresh(vm: snapshot.name, event: LedgerEvent.persistent(why), detail: reason) {
            UUID().uuidString.lowercased()
        }
        let xml = try DomainXML.settingGenID(.value(record.value), in: snapshot.persistentXML)
        _ = try connection.defineDomain(xml: xml)
        metrics.rotation("persistent")
        metrics.action("write-persistent-\(why)")
        logger.info("new value in the persistent definition", metadata: [
            "domain": "\(snapshot.name)", "value": "\(record.value)", "why": "\(why)"])
    }

    /// Looks at one domain now, as the reconciliation pass would.
    func reconcile(domainNamed name: String) async {
        guard let domain = try? lookUp(name) else { return }
        await apply(.reconcile, to: domain)
    }

    // MARK: Rotation through the monitor

    func rotate(domainNamed name: String) async throws -> RotationSummary {
        let domain = try lookUp(name)
        return try await rotateLive(domain, reason: "requested through genidctl")
    }

    func revert(domainNamed name: String, snapshot: String) async throws -> RotationSummary {
        let domain = try lookUp(name)
        let (vm, live) = try await attach(domain)
        let rotation = try await Rotator(vm: vm, ledger: ledger).revert(to: snapshot)
        markCurrent(snapshot, of: domain)
        return await rotated(rotation, live: live)
    }

    /// libvirt did not see the revert: make the snapshot its current one
    /// again, so the next snapshot gets the right parent. A QEMU-only
    /// snapshot (no libvirt metadata) is left alone.
    private func markCurrent(_ snapshot: String, of domain: Domain) {
        guard (try? domain.snapshotNames())?.contains(snapshot) == true else { return }
        do {
            try domain.makeSnapshotCurrent(named: snapshot)
        } catch {
            logger.warning("could not make the reverted snapshot current in libvirt", metadata: [
                "domain": "\(domain.name)", "snapshot": "\(snapshot)", "error": "\(error)"])
        }
    }

    private func rotateLive(_ domain: Domain, reason: String) async throws -> RotationSummary {
        let (vm, live) = try await attach(domain)
        logger.info("rotating through the QEMU monitor", metadata: ["domain": "\(vm.name)", "reason": "\(reason)"])
        let rotation = try await Rotator(vm: vm, ledger: ledger).rotate()
        return await rotated(rotation, live: live)
    }

    private func attach(_ domain: Domain) async throws -> (AttachedVM, DomainSnapshot) {
        let snapshot = try DomainSnapshot.take(domain)
        guard snapshot.isActive else { throw DaemonError.notRunning(domain: snapshot.name) }
        guard snapshot.hasGenID else { throw DaemonError.noGenID(domain: snapshot.name) }
        let monitor = LibvirtMonitor(domain: domain)
        let memory = try await DomainMemory.openForRotation(domain: snapshot.name, monitor: monitor)
        return (AttachedVM(name: snapshot.name, monitor: monitor, memory: memory), snapshot)
    }

    private func rotated(_ rotation: Rotation, live: DomainSnapshot) async -> RotationSummary {
        metrics.rotation("passthrough")
        metrics.action(rotation.event.rawValue)
        notes[rotation.vm, default: Note()].lastAction = "\(rotation.event.rawValue) \(rotation.source): \(rotation.value)"
        await beginReadiness(live, value: rotation.value)
        return RotationSummary(domain: rotation.vm, event: rotation.event.rawValue, source: rotation.source,
                               value: rotation.value, pauseMilliseconds: rotation.pauseMilliseconds,
                               totalMilliseconds: rotation.totalMilliseconds)
    }

    // MARK: Readiness and status

    private func beginReadiness(_ snapshot: DomainSnapshot, value: String) async {
        let path = snapshot.liveXML.flatMap { try? DomainXML.channelSocketPath(target: configuration.agentChannel, in: $0) }
        await readiness.begin(domain: snapshot.name, value: value, channelPath: path)
    }

    /// The value the running domain has now, for `wait-ready`. A genidd
    /// that has just started answers before it reaches libvirtd: wait for
    /// that connection until `deadline` rather than fail the caller.
    func currentValue(domainNamed name: String, connectedBy deadline: ContinuousClock.Instant) async throws -> String {
        while connection == nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        let snapshot = try DomainSnapshot.take(try lookUp(name))
        guard snapshot.isActive else { throw DaemonError.notRunning(domain: name) }
        guard let value = snapshot.liveValue else { throw DaemonError.noGenID(domain: name) }
        return value
    }

    func status(domainNamed name: String?) async throws -> [DomainStatus] {
        guard let connection else { throw DaemonError.libvirtUnavailable("not connected to libvirtd (yet)") }
        let domains = try name.map { [try lookUp($0)] } ?? connection.allDomains()
        var result: [DomainStatus] = []
        for domain in domains.sorted(by: { $0.name < $1.name }) {
            let snapshot = try DomainSnapshot.take(domain)
            let state = (try? domain.state().state.description) ?? "unknown"
            var readiness = snapshot.isActive ? "unknown" : "not-running"
            var readyValue: String?, detail: String?
            if snapshot.isActive, let gate = await self.readiness.state(of: snapshot.name) {
                switch gate {
                case .adjusting(let value, _): (readiness, readyValue) = ("adjusting", value)
                case .ready(let value, _): (readiness, readyValue) = ("ready", value)
                case .failed(let value, let reason): (readiness, readyValue, detail) = ("failed", value, reason)
                }
            }
            let note = notes[snapshot.name]
            result.append(DomainStatus(
                name: snapshot.name, uuid: domain.uuidString, state: state, hasGenID: snapshot.hasGenID,
                liveValue: snapshot.liveValue, persistentValue: snapshot.persistentValue, readiness: readiness,
                readyValue: readyValue, readinessDetail: detail, lastAction: note?.lastAction,
                lastError: snapshot.hasGenID ? note?.lastError : DaemonError.noGenID(domain: snapshot.name).description))
        }
        return result
    }

    private func lookUp(_ name: String) throws -> Domain {
        guard let connection else { throw DaemonError.libvirtUnavailable("not connected to libvirtd (yet)") }
        do {
            return try connection.domain(named: name)
        } catch where error.code == .noDomain {
            throw DaemonError.unknownDomain(name)
        }
    }

    /// After a state load QEMU writes libvirt's value into the page; give it
    /// a moment so the check reads the loaded state, not the one before.
    private func settleGuestMemory(_ domain: Domain) async {
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            guard let snapshot = try? DomainSnapshot.take(domain), snapshot.isActive,
                  let guest = snapshot.guestValue, guest != snapshot.libvirtLiveValue else { return }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    static func eventName(_ event: PolicyEvent) -> String {
        "\(event)".lowercased().replacingOccurrences(of: "/", with: "-").replacingOccurrences(of: "_", with: "-")
    }
}
