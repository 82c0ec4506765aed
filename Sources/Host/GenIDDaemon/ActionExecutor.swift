import GenIDHost
import GenIDPolicy
import GenerationStore
import Logging
import VMGenID

/// What executing an action leaves for the caller to do.
struct ActionOutcome: Sendable, Equatable {
    /// Ask the guest whether it has adjusted to this value (readiness gate).
    var readinessValue: GenerationID?
    /// A rotation through the monitor happened.
    var rotation: Rotation?
    /// A problem to show in `status` although the action itself succeeded.
    var note: String?
}

/// Carries out the policy's decision for one domain: the ledger first, then
/// the domain (a value reaches a definition or a guest only once it is
/// recorded). Knows nothing of libvirt: definitions and rotations go
/// through `DomainEffects`.
struct ActionExecutor: Sendable {
    let store: any GenerationStore
    let metrics: DaemonMetrics
    let logger: Logger
    /// Shared with `DomainGuard`, whose failure rows a guest can cause too.
    var auditThrottle = Throttle()

    func execute(_ action: PolicyAction, event: PolicyEvent, on domain: DomainObservation,
                 effects: any DomainEffects) async throws -> ActionOutcome {
        switch action {
        case .none:
            return ActionOutcome(readinessValue: domain.isActive ? domain.liveValue : nil)

        case .checkFreshAndRecord:
            guard let value = domain.liveValue else { return ActionOutcome() }
            let verified = domain.guestValue != nil
            try await store.recordObserved(value, for: domain.identity, role: .live, event: Self.eventName(event),
                                           detail: verified ? "seen in guest memory" : "not verified in guest memory")
            metrics.check(verified ? "fresh" : "unverified")
            metrics.rotation("libvirt")
            metrics.action("check-and-record")
            return ActionOutcome(readinessValue: value, note: domain.guestMemoryError)

        case .rotateLive(let reason):
            metrics.check("stale")
            return rotated(try await effects.rotateLive(reason: reason, store: store))

        case .writePersistentGenID(let reason):
            let why = switch GenIDPolicy.rule(for: event) {
            case .definitionReverted: "inactive-revert"
            case .stateLoaded: "state-loaded"
            default: "reconcile"
            }
            try await writePersistent(domain, why: why, reason: reason, effects: effects)
            return ActionOutcome()

        case .giveNewValue(let reason):
            try await writePersistent(domain, why: "clone", reason: reason, effects: effects)
            if domain.isActive, let live = domain.liveValue, let owner = try await store.owner(of: live),
               !owner.vm.isSameVM(as: domain.identity) {
                let why = "runs with the value of domain '\(owner.vm.name)'"
                return rotated(try await effects.rotateLive(reason: why, store: store))
            }
            return ActionOutcome()

        case .recordPersistentValue:
            guard let value = domain.persistentValue else { return ActionOutcome() }
            try await store.recordObserved(value, for: domain.identity, role: .persistent, event: "defined")
            metrics.action("record-persistent")
            return ActionOutcome()

        case .recordMove(let host):
            guard let value = domain.liveValue else { return ActionOutcome() }
            try await store.move(value, of: domain.identity)
            metrics.action("record-move")
            logger.info("the domain migrated here: its value's record moved to this host", metadata: [
                "domain": "\(domain.name)", "value": "\(value)", "from": "\(host)"])
            return ActionOutcome(readinessValue: value)

        case .reassertAfterReset:
            // QEMU's device value (libvirt's live <genid>, or the value a
            // migration's destination was created with); stale only if genid
            // gave the guest another value in this QEMU process.
            guard let stale = domain.qemuValue ?? domain.libvirtLiveValue,
                  let current = try await effects.valueGivenInThisRun(store: store), current != stale else {
                return ActionOutcome()
            }
            metrics.action("reassert-after-reset")
            guard let took = try await effects.reassertAfterReset(current, replacing: stale) else {
                let message = "after a reset the guest's page never showed QEMU's device value \(stale) within 10 s; "
                    + "its value may be \(stale), which it had before \(current)"
                await auditThrottled(domain, kind: "reset-exposed", message: message)
                return ActionOutcome(note: message)
            }
            await auditThrottled(domain, kind: "reset-reasserted", message:
                "after a reset QEMU's device showed \(stale) again; \(current) was back after "
                    + String(format: "%.1f ms", took.seconds * 1000))
            logger.info("value put back after a guest reset", metadata: [
                "domain": "\(domain.name)", "value": "\(current)", "stale": "\(stale)",
                "ms": "\(String(format: "%.1f", took.seconds * 1000))"])
            return ActionOutcome()

        case .reportMissingGenID:
            return ActionOutcome(note: DaemonError.noGenID(domain: domain.name).description)
        }
    }

    /// An audit row that a guest can cause at will (by resetting itself),
    /// at most once a minute per domain and kind.
    private func auditThrottled(_ domain: DomainObservation, kind: String, message: String) async {
        guard let skipped = auditThrottle.admit("\(domain.name)/\(kind)") else { return }
        try? await store.audit(domain.identity, kind: kind,
                               message: message + Throttle.leftOut(skipped, interval: auditThrottle.interval))
    }

    /// A fresh value into the persistent definition: ledger first, then libvirt.
    private func writePersistent(_ domain: DomainObservation, why: String, reason: String,
                                 effects: any DomainEffects) async throws {
        let record = try await store.issueFresh(for: domain.identity, role: .persistent, event: why, detail: reason)
        try await effects.writePersistentGenID(record.value, into: domain.persistentXML)
        metrics.rotation("persistent")
        metrics.action("write-persistent-\(why)")
        logger.info("new value in the persistent definition", metadata: [
            "domain": "\(domain.name)", "value": "\(record.value)", "why": "\(why)"])
    }

    func rotated(_ rotation: Rotation) -> ActionOutcome {
        metrics.rotation("passthrough")
        metrics.action(rotation.event.rawValue)
        return ActionOutcome(readinessValue: rotation.value, rotation: rotation)
    }

    /// The ledger's event name for a libvirt event: "started-restored", ...
    static func eventName(_ event: PolicyEvent) -> String {
        "\(event)".lowercased().replacingOccurrences(of: "/", with: "-").replacingOccurrences(of: "_", with: "-")
    }
}
