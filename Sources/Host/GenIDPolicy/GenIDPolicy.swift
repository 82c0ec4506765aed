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
        /// Migration must keep the value.
        case migration
        /// A rename keeps the domain's identity (its UUID).
        case renamed
        /// Nothing the value depends on.
        case ignored
    }

    /// The action for `event` on a domain described by `domain`.
    public static func action(for event: PolicyEvent, domain: DomainFacts) -> PolicyAction {
        rule(for: event).action(for: domain)
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
        case .defined(.other), .started(.other), .resumed(.other), .undefined, .suspended, .stopped, .shutdown,
            .pmSuspended, .crashed, .unknown:
            .ignored
        }
    }
}

extension GenIDPolicy.Rule {
    /// The table's right column.
    public func action(for domain: DomainFacts) -> PolicyAction {
        switch self {
        case .stateLoaded:
            guard domain.hasGenIDElement else { return .reportMissingGenID }
            guard domain.liveValue != nil else {
                return .none(reason: "no live value to check (the domain is not running any more?)")
            }
            return Self.checkLive(domain, whenSameAsPersistent: false)

        case .definitionReverted:
            guard domain.hasGenIDElement else { return .reportMissingGenID }
            if domain.isActive {
                return .none(reason: "running revert: STARTED/FROM_SNAPSHOT handles the live value")
            }
            return .writePersistentGenID(
                reason: "inactive revert: libvirt keeps the snapshot's value, so the next start would repeat it")

        case .definitionChanged:
            guard domain.hasGenIDElement else { return .reportMissingGenID }
            return Self.checkPersistent(domain)

        case .reconcile:
            guard domain.hasGenIDElement else { return .reportMissingGenID }
            if case .giveNewValue(let reason) = Self.checkPersistent(domain) { return .giveNewValue(reason: reason) }
            if domain.isActive, domain.liveValue != nil {
                return Self.checkLive(domain, whenSameAsPersistent: true)
            }
            if !domain.isActive, let snapshot = domain.snapshotWithPersistentValue {
                return .writePersistentGenID(
                    reason: "the next start would reuse the value of snapshot '\(snapshot)' "
                        + "(an inactive revert while genidd was away looks like this)")
            }
            if domain.persistentValue != nil, domain.persistentStanding == .earlierForThisDomain {
                return .writePersistentGenID(
                    reason: "the persistent definition carries an earlier value of this domain "
                        + "(reverted while genidd was away?)")
            }
            return Self.checkPersistent(domain)

        case .sameGeneration:
            return .none(reason: "the same generation continues (boot, wakeup or unpause)")
        case .migration:
            return .none(reason: "migration keeps the value")
        case .renamed:
            return .none(reason: "a rename keeps the domain (same UUID) and its value")
        case .ignored:
            return .none(reason: "does not affect the generation")
        }
    }

    /// Live value: fresh -> check and record; seen before -> rotate. With
    /// `whenSameAsPersistent`, a live value equal to this domain's persistent
    /// value is a plain boot (by design, not a rewind).
    private static func checkLive(_ domain: DomainFacts, whenSameAsPersistent: Bool) -> PolicyAction {
        switch domain.liveStanding {
        case .unrecorded:
            return .checkFreshAndRecord
        case .latestForThisDomain:
            return .none(reason: "the live value is already recorded for this domain")
        case .earlierForThisDomain:
            if whenSameAsPersistent, domain.liveValue == domain.persistentValue {
                return .none(reason: "booted with the persistent value")
            }
            return .rotateLive(reason: "the live value is one this domain had before: its state was rewound")
        case .otherDomain(let owner):
            return .rotateLive(reason: "the live value belongs to domain '\(owner)'")
        }
    }

    /// Persistent value: another domain's -> new value; fresh -> record.
    private static func checkPersistent(_ domain: DomainFacts) -> PolicyAction {
        guard domain.persistentValue != nil else {
            return .none(reason: "no persistent value yet (libvirt fills <genid/> when it defines the domain)")
        }
        switch domain.persistentStanding {
        case .otherDomain(let owner):
            return .giveNewValue(reason: "domain '\(owner)' has the same value (a clone or copied XML)")
        case .unrecorded:
            return .recordPersistentValue
        case .latestForThisDomain, .earlierForThisDomain:
            return .none(reason: "the persistent value is this domain's")
        }
    }
}
