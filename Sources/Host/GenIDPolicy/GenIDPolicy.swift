/// The event -> action table of genidd, in one place.
///
/// `rule(for:)` maps each event to one row; `Rule.action(for:)` decides from
/// the domain's facts. Both are exhaustive switches, so a new event or row
/// does not compile until it is decided here.
///
/// | event | rule |
/// |---|---|
/// | STARTED/RESTORED, STARTED/FROM_SNAPSHOT, RESUMED/FROM_SNAPSHOT | `stateLoaded` |
/// | DEFINED/FROM_SNAPSHOT | `definitionReverted` |
/// | DEFINED/ADDED, DEFINED/UPDATED | `definitionChanged` |
/// | reconciliation on (re)connection | `reconcile` |
/// | STARTED/BOOTED, STARTED/WAKEUP, RESUMED/UNPAUSED | `sameGeneration` |
/// | STARTED/MIGRATED, RESUMED/MIGRATED, RESUMED/POSTCOPY, STOPPED/MIGRATED | `migration` |
/// | DEFINED/RENAMED | `renamed` |
/// | REBOOT (a guest reset) | `guestReset` |
/// | everything else (UNDEFINED, SUSPENDED, STOPPED/*, SHUTDOWN, PMSUSPENDED, CRASHED, unknown) | `ignored` |
public enum GenIDPolicy {
    public enum Rule: String, Sendable, Hashable, CaseIterable {
        /// Memory state was loaded (restore, running revert): libvirt should
        /// have given a fresh value; make sure, and record it.
        case stateLoaded
        /// An inactive revert: libvirt keeps the snapshot's value, so the next
        /// plain start would repeat it.
        case definitionReverted
        /// A new or changed definition: a clone or copied XML shares a value.
        case definitionChanged
        /// After a (re)connection: whatever the events would have caught.
        case reconcile
        /// The same generation continues (cold boot, wakeup, unpause).
        case sameGeneration
        /// Migration must keep the value: on arrival the domain is looked at
        /// as a reconciliation would (a value recorded on the source host
        /// moves here).
        case migration
        /// A rename keeps the domain's identity (its UUID).
        case renamed
        /// A guest reset: the same generation continues, but stock QEMU shows
        /// the firmware its device's value, stale after an in-process rotation.
        case guestReset
        /// Nothing the value depends on.
        case ignored
    }

    /// What to do about `event` on a domain described by `domain`: one
    /// action, or two when the live value and the persistent definition both
    /// need one (live first). Never empty: "nothing" is `.none(reason:)`.
    public static func actions(for event: PolicyEvent, domain: DomainFacts) -> [PolicyAction] {
        rule(for: event).actions(for: domain)
    }

    /// The table's left column.
    public static func rule(for event: PolicyEvent) -> Rule {
        switch event {
        case .started(.restored), .started(.fromSnapshot), .resumed(.fromSnapshot): .stateLoaded
        case .defined(.fromSnapshot): .definitionReverted
        case .defined(.added), .defined(.updated): .definitionChanged
        case .reconcile: .reconcile
        case .started(.booted), .started(.wakeup), .resumed(.unpaused): .sameGeneration
        case .started(.migrated), .resumed(.migrated), .resumed(.postcopy), .stopped(.migrated): .migration
        case .defined(.renamed): .renamed
        case .reset: .guestReset
        case .defined(.other), .started(.other), .resumed(.other), .undefined, .suspended, .stopped, .shutdown,
            .pmSuspended, .crashed, .unknown:
            .ignored
        }
    }
}

extension GenIDPolicy.Rule {
    /// The table's right column.
    ///
    /// One decision per state: every rule that looks at the domain
    /// (`stateLoaded`, `definitionReverted`, `definitionChanged`,
    /// `reconcile`) decides with the same two functions of the domain's
    /// state, `liveCorrection` and `persistentCorrection`; an event adds only
    /// what it knows that the state cannot show (`Knowledge`). So a
    /// reconciliation right after an event's actions finds nothing left to
    /// do, and a missed event is caught by the next reconciliation the same way.
    public func actions(for domain: DomainFacts) -> [PolicyAction] {
        let knowledge: Knowledge
        switch self {
        case .sameGeneration:
            return [.none(reason: "the same generation continues (boot, wakeup or unpause)")]
        case .renamed:
            return [.none(reason: "a rename keeps the domain (same UUID) and its value")]
        case .ignored:
            return [.none(reason: "does not affect the generation")]
        case .guestReset:
            guard domain.hasGenIDElement, domain.isActive else { return [.none(reason: "no VMGENID device running")] }
            return [.reassertAfterReset]
        case .stateLoaded:
            guard domain.liveValue != nil || !domain.hasGenIDElement else {
                return [.none(reason: "no live value to check (the domain is not running any more?)")]
            }
            knowledge = .stateLoaded
        case .definitionReverted:
            knowledge = domain.isActive ? .nothing : .inactiveRevert
        case .migration:
            knowledge = .migrated
        case .definitionChanged, .reconcile:
            knowledge = .nothing
        }
        guard domain.hasGenIDElement else { return [.reportMissingGenID] }
        let persistent = Self.persistentCorrection(domain, knowledge: knowledge)
        let definitionKept = switch persistent {
        case .writePersistentGenID, .giveNewValue: false
        default: true
        }
        var live = Self.liveCorrection(domain, knowledge: knowledge, definitionKept: definitionKept)
        var persistentAction = persistent
        // giveNewValue also rotates a live value another domain owns.
        if case .giveNewValue = persistent, case .otherDomain = domain.liveStanding { live = nil }
        // A loaded state running with its definition's new value: one record (live).
        if live == .checkFreshAndRecord, persistent == .recordPersistentValue,
           domain.liveValue == domain.persistentValue {
            persistentAction = nil
        }
        let actions = [live, persistentAction].compactMap { $0 }
        return actions.isEmpty ? [.none(reason: Self.nothingToDo(domain))] : actions
    }

    /// What an event tells beyond the domain's state.
    enum Knowledge {
        case nothing
        /// A memory state was just loaded: a live value equal to the
        /// persistent one is a rewind to it, not a boot with it.
        case stateLoaded
        /// An inactive revert: the persistent value is a snapshot's, even
        /// when the snapshot lookup found none.
        case inactiveRevert
        /// A live migration: a live value recorded on another host came
        /// with the domain, even when its definition carries no value.
        case migrated
    }

    /// The running guest's value: fresh -> check and record; this domain's
    /// earlier value or another domain's -> rotate. A domain that booted with
    /// a value given to its definition runs with it by design, whatever the
    /// definition holds now (no event tells a boot from an in-process
    /// rollback to that value; see the limits in genidd.md). Equal to a
    /// definition that is about to get a new value (`definitionKept` false)
    /// counts only if the ledger says the domain booted with it.
    static func liveCorrection(_ domain: DomainFacts, knowledge: Knowledge, definitionKept: Bool) -> PolicyAction? {
        guard domain.isActive, let live = domain.liveValue else { return nil }
        if knowledge == .stateLoaded, domain.liveRecordedBeforeThisRun,
           [.latestForThisDomain, .earlierForThisDomain].contains(domain.liveStanding) {
            return .rotateLive(reason: "after a state load the guest runs with a value it had before this QEMU "
                + "process started (the loaded state brought its QEMU device value along)")
        }
        let sameAsDefinition = definitionKept && live == domain.persistentValue
        let bootedWithDefinition = knowledge != .stateLoaded && (sameAsDefinition || domain.liveWasDefinitionValue)
        switch domain.liveStanding {
        case .unrecorded:
            // A boot with the definition's value: recorded once, as persistent.
            return bootedWithDefinition ? nil : .checkFreshAndRecord
        case .latestForThisDomain:
            return recordedElsewhere(domain, knowledge: knowledge)
        case .earlierForThisDomain:
            if bootedWithDefinition { return recordedElsewhere(domain, knowledge: knowledge) }
            return .rotateLive(reason: "the live value is one this domain had before: its state was rewound")
        case .otherDomain(let owner):
            return .rotateLive(reason: "the live value belongs to domain '\(owner)'")
        }
    }

    /// This domain's current value, recorded on another host (a fleet
    /// ledger): moved here by a live migration (the event says so, or the
    /// live definition carries the value) -> move the record; otherwise a
    /// copy of the VM, with its UUID, runs here with the value the
    /// original may still run with -> rotate.
    static func recordedElsewhere(_ domain: DomainFacts, knowledge: Knowledge) -> PolicyAction? {
        guard let host = domain.liveRecordedOnHost else { return nil }
        if knowledge == .migrated || domain.liveValueCarried { return .recordMove(from: host) }
        return .rotateLive(reason: "the live value is recorded for this VM on host '\(host)' and did not come "
            + "here by a live migration: a copy of the VM runs here")
    }

    /// The persistent definition's value (what the next start uses):
    /// another domain's -> a new value; new -> record it; one this domain
    /// had before, or a snapshot's while inactive -> write a fresh one.
    static func persistentCorrection(_ domain: DomainFacts, knowledge: Knowledge) -> PolicyAction? {
        if knowledge == .inactiveRevert {
            return .writePersistentGenID(
                reason: "inactive revert: libvirt keeps the snapshot's value, so the next start would repeat it")
        }
        guard domain.persistentValue != nil else { return nil }
        // This domain's value, but recorded on another host: the definition was
        // copied from there (a VM copied with its UUID may still run there).
        if let host = domain.persistentRecordedOnHost,
           [.latestForThisDomain, .earlierForThisDomain].contains(domain.persistentStanding) {
            return .writePersistentGenID(
                reason: "the definition's value is recorded on host '\(host)': the definition came from there "
                    + "(a copy, or a migration), so the next start here gets a value of its own")
        }
        switch domain.persistentStanding {
        case .otherDomain(let owner):
            return .giveNewValue(reason: "domain '\(owner)' has the same value (a clone or copied XML)")
        case .earlierForThisDomain:
            return .writePersistentGenID(
                reason: "the persistent definition carries an earlier value of this domain "
                    + "(a running revert puts the snapshot's value back, or it was reverted while genidd was away)")
        case .unrecorded, .latestForThisDomain:
            if !domain.isActive, let snapshot = domain.snapshotWithPersistentValue {
                return .writePersistentGenID(
                    reason: "the next start would reuse the value of snapshot '\(snapshot)' "
                        + "(an inactive revert while genidd was away looks like this)")
            }
            return domain.persistentStanding == .unrecorded ? .recordPersistentValue : nil
        }
    }

    private static func nothingToDo(_ domain: DomainFacts) -> String {
        if domain.isActive, domain.liveValue != nil {
            return domain.liveValue == domain.persistentValue
                ? "booted with the persistent value, which is this domain's"
                : "the live value is already recorded for this domain"
        }
        if domain.persistentValue == nil {
            return "no persistent value yet (libvirt fills <genid/> when it defines the domain)"
        }
        return "the persistent value is this domain's"
    }
}
