import Foundation
import GenIDControl
import GenIDHost
import GenIDPolicy
import GenerationStore
import Libvirt
import Logging
import VMGenID

/// Applies the policy table to libvirt's domains. Each event, reconciliation
/// or control request for a domain runs alone (`DomainQueue`), on the domain
/// as it is *now* (`DomainObservation`), so handling the same situation
/// twice does nothing the second time. `ActionExecutor` carries out the
/// decision; this type wires libvirt, the readiness gate and status to it.
actor DomainGuard {
    private let configuration: DaemonConfiguration
    let store: any GenerationStore
    let readiness: ReadinessGate
    private let metrics: DaemonMetrics
    private let logger: Logger
    private let executor: ActionExecutor
    private let queue = DomainQueue()
    private var connection: Connection?
    private var notes: [String: Note] = [:]
    /// When each domain's last guest reset was handled: libvirt reports one
    /// reset twice, tens of milliseconds apart, and the first handling
    /// already covered it (it waits for the firmware's write).
    private var resetsHandled: [String: ContinuousClock.Instant] = [:]

    struct Note {
        var lastAction: String?
        var lastError: String?
    }

    init(configuration: DaemonConfiguration, store: any GenerationStore, readiness: ReadinessGate,
         metrics: DaemonMetrics, logger: Logger) {
        self.configuration = configuration
        self.store = store
        self.readiness = readiness
        self.metrics = metrics
        self.logger = logger
        executor = ActionExecutor(store: store, metrics: metrics, logger: logger)
    }

    func attach(_ connection: Connection?) { self.connection = connection }

    // MARK: Events

    /// Decides one lifecycle event. Each ends in one `decided` line (debug)
    /// saying how long since libvirt delivered it (`ms`) and how much of
    /// that it waited for genidd to take it (`queued_ms`): what
    /// `genid-lab bench load` counts.
    func handle(_ event: DomainLifecycleEvent) async {
        let taken = ContinuousClock.now
        let policyEvent = PolicyEvent(event.kind)
        let rule = GenIDPolicy.rule(for: policyEvent)
        metrics.event(rule: rule.rawValue)
        logger.debug("event", metadata: ["domain": "\(event.domainName)", "event": "\(policyEvent)", "rule": "\(rule)"])
        switch policyEvent {
        case .stopped, .undefined, .crashed:
            await readiness.forget(domain: event.domainName, reason: "the domain stopped (\(policyEvent))")
            // Undefined (or a transient one stopped): nothing more to show of it.
            if isGone(uuid: event.domainUUID) { forgetNotes(of: event.domainName, uuid: event.domainUUID) }
        default: break
        }
        let outcome: Decision
        if rule == .ignored {
            outcome = .ignored
        } else if let domain = try? connection?.domain(uuid: event.domainUUID) {
            outcome = await applyInTurn(policyEvent, to: domain)
        } else {
            outcome = .gone  // undefined meanwhile, or libvirt went away
        }
        logger.debug("decided", metadata: [
            "domain": "\(event.domainName)", "uuid": "\(event.domainUUID)", "libvirt_event": "\(event.kind)",
            "rule": "\(rule)", "outcome": "\(outcome.rawValue)",
            "ms": "\(Self.milliseconds(ContinuousClock.now - event.received))",
            "queued_ms": "\(Self.milliseconds(taken - event.received))"])
    }

    private static func milliseconds(_ duration: Duration) -> String {
        String(format: "%.3f", duration.seconds * 1000)
    }

    /// How one look at a domain ended.
    enum Decision: String {
        /// Nothing to do, or every action carried out.
        case done
        /// An action failed (logged, audited, counted).
        case failed
        /// libvirt is moving or starting the domain: a later look decides.
        case later
        /// A second report of a guest reset already handled.
        case repeated
        /// The event does not affect the generation.
        case ignored
        /// The domain was gone before its turn.
        case gone
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
        for domain in domains { await applyInTurn(.reconcile, to: domain) }
    }

    /// Looks at one domain now, as the reconciliation pass would.
    func reconcile(domainNamed name: String) async {
        guard let domain = try? lookUp(name) else { return }
        await applyInTurn(.reconcile, to: domain)
    }

    @discardableResult
    private func applyInTurn(_ event: PolicyEvent, to domain: Domain, look: Int = 0) async -> Decision {
        (try? await queue.run(domain.uuidString) { await self.apply(event, to: domain, look: look) }) ?? .failed
    }

    /// How often, and how far apart, a domain libvirt is moving is looked at
    /// again (about 5 minutes).
    static let transitLooks = 150
    static let transitInterval: Duration = .seconds(2)

    private func apply(_ event: PolicyEvent, to domain: Domain, look: Int = 0) async -> Decision {
        let name = domain.name
        let rule = GenIDPolicy.rule(for: event)
        let isReset = rule == .guestReset
        if isReset, let handled = resetsHandled[domain.uuidString], ContinuousClock.now - handled < .seconds(1) {
            logger.debug("reset already handled", metadata: ["domain": "\(name)"])
            return .repeated
        }
        defer { if isReset { resetsHandled[domain.uuidString] = .now } }
        do {
            guard let connection else { throw DaemonError.libvirtUnavailable("not connected") }
            // Mid-migration (either side) or while QEMU starts, guest memory
            // is not the guest's yet: handle the event again once libvirt is
            // done (what follows may say nothing, e.g. STARTED/BOOTED). A
            // reconciliation needs no second look: genidd follows the events
            // already, and the arrival's or start's event comes.
            if !isReset, (try? domain.isInTransit()) == true {
                logger.debug("libvirt is moving or starting the domain; its next look decides",
                             metadata: ["domain": "\(name)", "event": "\(event)", "look": "\(look)"])
                if rule != .reconcile, look < Self.transitLooks {
                    Task {
                        try? await Task.sleep(for: Self.transitInterval)
                        await self.applyInTurn(event, to: domain, look: look + 1)
                    }
                }
                return .later
            }
            let observation = rule == .stateLoaded
                ? try await settledObservation(of: domain) : try await DomainObservation.read(domain)
            let qemuStarted = rule == .stateLoaded ? try? ResetRepair.qemuStarted(domain: name) : nil
            let facts = try await observation.facts(store: store, qemuStarted: qemuStarted)
            let actions = GenIDPolicy.actions(for: event, domain: facts)
            notes[name, default: Note()].lastAction = "\(event): " + actions.map(\.description).joined(separator: "; ")
            let effects = LibvirtDomainEffects(domain: domain, connection: connection, logger: logger)
            var readinessBegun = false, rotated = false
            for action in actions {
                if case .none = action {
                    logger.debug("no action", metadata: ["domain": "\(name)", "event": "\(event)", "action": "\(action)"])
                } else {
                    logger.info("policy", metadata: ["domain": "\(name)", "event": "\(event)", "action": "\(action)"])
                }
                let outcome = try await executor.execute(action, event: event, on: observation, effects: effects)
                readinessBegun = readinessBegun || outcome.readinessValue != nil
                rotated = rotated || outcome.rotation != nil
                await conclude(outcome, for: observation)
            }
            // The guest's value travels with the domain (a rotation carries its
            // own). Not one recorded on another host and left as it was: this
            // host does not vouch for it.
            if !rotated, !isReset, observation.isActive, let guest = observation.guestValue,
               observation.carriedValue != guest, facts.liveRecordedOnHost == nil {
                try LiveValueCarrier(domain: domain, logger: logger).keep(guest)
            }
            // A running guest's readiness is known for whatever value it runs
            // with (a boot recorded only as its definition's value, too).
            // Not at a reset: the page read then may hold the firmware's copy.
            if !readinessBegun, observation.isActive, !isReset, let live = observation.liveValue {
                await beginReadiness(observation, value: live)
            }
            return .done
        } catch {
            // Undefined while genidd looked at it: nothing failed, nothing to show.
            if isGone(uuid: domain.uuidString) {
                logger.debug("the domain is gone", metadata: ["domain": "\(name)", "event": "\(event)"])
                forgetNotes(of: name, uuid: domain.uuidString)
                return .gone
            }
            notes[name, default: Note()].lastError = "\(event): \(error)"
            metrics.failure("policy")
            // A guest that resets in a loop repeats the same failure: one
            // log line and audit row a minute per domain and event.
            guard let skipped = executor.auditThrottle.admit("\(name)/failure/\(event)") else { return .failed }
            let leftOut = Throttle.leftOut(skipped, interval: executor.auditThrottle.interval)
            logger.error("action failed", metadata: ["domain": "\(name)", "event": "\(event)",
                                                     "error": "\(error)\(leftOut)"])
            try? await store.audit(VMIdentity(name: name, uuid: domain.uuidString), kind: "genidd-failure",
                                   message: "\(event): \(error)\(leftOut)")
            return .failed
        }
    }

    /// Whether libvirt no longer knows the domain (not: cannot be asked).
    private func isGone(uuid: String) -> Bool {
        connection.map { Self.isGone(uuid: uuid, on: $0) } ?? false
    }

    private static func isGone(uuid: String, on connection: Connection) -> Bool {
        do {
            _ = try connection.domain(uuid: uuid)
            return false
        } catch {
            return error.code == .noDomain
        }
    }

    /// What genidd keeps per domain, dropped once the domain is gone, so
    /// that domains defined and undefined by the thousand cost nothing.
    private func forgetNotes(of name: String, uuid: String) {
        notes[name] = nil
        resetsHandled[uuid] = nil
    }

    private func conclude(_ outcome: ActionOutcome, for domain: DomainObservation) async {
        if let note = outcome.note {
            // Said once per change: the checks after every event repeat it.
            if notes[domain.name]?.lastError != note {
                logger.warning("not verified", metadata: ["domain": "\(domain.name)", "why": "\(note)"])
            }
            notes[domain.name, default: Note()].lastError = note
        }
        if let rotation = outcome.rotation {
            notes[domain.name, default: Note()].lastAction =
                "\(rotation.event.rawValue) \(rotation.source): \(rotation.value)"
        }
        if let value = outcome.readinessValue { await beginReadiness(domain, value: value) }
    }

    // MARK: Rotation through the monitor (genidctl rotate, revert)

    func rotate(domainNamed name: String) async throws -> RotationSummary {
        try await operatorRequest("rotate", domainNamed: name) { domain, effects in
            try await self.rotated(effects.rotateLive(reason: "requested through genidctl", store: self.store),
                                   domain: domain)
        }
    }

    func revert(domainNamed name: String, snapshot: String) async throws -> RotationSummary {
        try await operatorRequest("revert \(snapshot)", domainNamed: name) { domain, effects in
            let rotation = try await effects.rotator(store: self.store).revert(to: snapshot)
            await self.markCurrent(snapshot, of: domain)
            return try await self.rotated(rotation, domain: domain)
        }
    }

    /// Runs an operator's request on the domain's queue. Its failure (a
    /// guest whose tables steer genid off its RAM, say) is shown by `status`
    /// and logged with the reason, as a policy action's is; the rotator has
    /// put it in the audit trail.
    private func operatorRequest(_ request: String, domainNamed name: String,
                                 _ body: @escaping @Sendable (Domain, LibvirtDomainEffects) async throws -> RotationSummary)
        async throws -> RotationSummary {
        let (domain, effects) = try effects(of: name)
        do {
            return try await queue.run(domain.uuidString) { try await body(domain, effects) }
        } catch {
            notes[name, default: Note()].lastError = "\(request): \(error)"
            logger.error("request failed", metadata: ["domain": "\(name)", "request": "\(request)", "error": "\(error)"])
            throw error
        }
    }

    private func effects(of name: String) throws -> (Domain, LibvirtDomainEffects) {
        guard let connection else { throw DaemonError.libvirtUnavailable("not connected to libvirtd (yet)") }
        let domain = try lookUp(name)
        return (domain, LibvirtDomainEffects(domain: domain, connection: connection, logger: logger))
    }

    private func rotated(_ rotation: Rotation, domain: Domain) async throws -> RotationSummary {
        await conclude(executor.rotated(rotation), for: try await DomainObservation.read(domain))
        return RotationSummary(domain: rotation.vm, event: rotation.event.rawValue, source: rotation.source,
                               value: rotation.value.description, pauseMilliseconds: rotation.pauseMilliseconds,
                               totalMilliseconds: rotation.totalMilliseconds)
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

    // MARK: Readiness and status

    private func beginReadiness(_ domain: DomainObservation, value: GenerationID) async {
        let path = domain.liveXML.flatMap { try? DomainXML.channelSocketPath(target: configuration.agentChannel, in: $0) }
        await readiness.begin(domain: domain.name, value: value, channelPath: path)
    }

    /// The value the running domain has now, for `wait-ready`. A genidd
    /// that has just started answers before it reaches libvirtd: wait for
    /// that connection until `deadline` rather than fail the caller.
    func currentValue(domainNamed name: String, connectedBy deadline: ContinuousClock.Instant) async throws -> GenerationID {
        while connection == nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        let domain = try await DomainObservation.read(try lookUp(name))
        guard domain.isActive else { throw DaemonError.notRunning(domain: name) }
        guard let value = domain.liveValue else { throw DaemonError.noGenID(domain: name) }
        return value
    }

    /// Reads libvirt off the actor: a status of every domain takes seconds
    /// on a large host, and on the actor every event waited for it (a
    /// client polling status halved genidd's events per second under
    /// `genid-lab bench load`).
    nonisolated func status(domainNamed name: String?) async throws -> [DomainStatus] {
        guard let connection = await connection else {
            throw DaemonError.libvirtUnavailable("not connected to libvirtd (yet)")
        }
        let domains = try name.map { [try Self.lookUp($0, on: connection)] } ?? connection.allDomains()
        var result: [DomainStatus] = []
        for domain in domains.sorted(by: { $0.name < $1.name }) {
            let observation: DomainObservation
            do {
                observation = try await DomainObservation.read(domain)
            } catch where name == nil && Self.isGone(uuid: domain.uuidString, on: connection) {
                continue  // undefined since the listing: not an error of the whole answer
            }
            let state = (try? domain.state().state.description) ?? "unknown"
            result.append(StatusReport.make(observation, state: state,
                                            readiness: await readiness.state(of: observation.name),
                                            note: await notes[observation.name]))
        }
        return result
    }

    private func lookUp(_ name: String) throws -> Domain {
        guard let connection else { throw DaemonError.libvirtUnavailable("not connected to libvirtd (yet)") }
        return try Self.lookUp(name, on: connection)
    }

    private static func lookUp(_ name: String, on connection: Connection) throws -> Domain {
        do {
            return try connection.domain(named: name)
        } catch where error.code == .noDomain {
            throw DaemonError.unknownDomain(name)
        }
    }

    /// After a state load QEMU writes libvirt's value into the page; give it
    /// a moment so the decision reads the loaded state, not the one before.
    /// The last reading is the one decided on: one read once settled.
    private func settledObservation(of domain: Domain) async throws -> DomainObservation {
        let deadline = ContinuousClock.now + .seconds(5)
        while true {
            let observation = try await DomainObservation.read(domain)
            guard observation.isActive, let guest = observation.guestValue, guest != observation.libvirtLiveValue,
                  ContinuousClock.now < deadline else { return observation }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }
}
