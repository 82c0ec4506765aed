import VMGenID

/// What the ledger says about one value, as seen from one domain. The caller
/// (genidd) looks it up; the policy only reads it.
public enum LedgerStanding: Sendable, Hashable {
    /// Never given to any domain: fresh.
    case unrecorded
    /// The latest value the ledger recorded for this domain in the same role
    /// (live value vs. persistent definition): already handled.
    case latestForThisDomain
    /// This domain had it before, and has had another since: state rewound.
    case earlierForThisDomain
    /// Another domain (named) has or had it: a clone or copied XML.
    case otherDomain(String)
}

/// Everything the policy needs to know about a domain when an event arrives.
/// Plain values, so tests build them directly.
public struct DomainFacts: Sendable, Hashable {
    /// Display name (the ledger knows the domain by its UUID: names change).
    public var name: String
    /// Running (or paused): the live definition is in use.
    public var isActive: Bool
    /// The persistent definition has a `<genid>` element.
    public var hasGenIDElement: Bool
    /// The value in the live definition (nil when inactive or unknown).
    public var liveValue: GenerationID?
    /// The value in the persistent definition (what the next start uses).
    public var persistentValue: GenerationID?
    /// Ledger standing of `liveValue` (ignored when it is nil).
    public var liveStanding: LedgerStanding
    /// Ledger standing of `persistentValue` (ignored when it is nil).
    public var persistentStanding: LedgerStanding
    /// The name of a snapshot of this domain whose definition holds
    /// `persistentValue`: a start now would reuse a snapshot's value (an
    /// inactive revert nobody saw looks exactly like this).
    public var snapshotWithPersistentValue: String? = nil
    /// The ledger records `liveValue` as a value given to this domain's
    /// definition (persistent role): the domain booted with it.
    public var liveWasDefinitionValue = false
    /// The ledger records `liveValue` for this domain on another host (named
    /// here): the domain migrated from there. nil when the record is on
    /// this host, names no host, or there is none.
    public var liveRecordedOnHost: String? = nil
    /// The same for `persistentValue`: this definition came from another
    /// host (copied there, or brought along by a migration).
    public var persistentRecordedOnHost: String? = nil
    /// The live definition carries `liveValue` (genid's metadata, kept by
    /// the genidd of the host the domain ran on): it arrived by a live
    /// migration, not as a copy started here.
    public var liveValueCarried = false
    /// The ledger recorded `liveValue` for this domain before the running
    /// QEMU process started (asked only after a state load): the loaded
    /// state brought a value the guest had before (a saved image or a
    /// snapshot whose QEMU device value genid had set at a migration).
    public var liveRecordedBeforeThisRun = false

    public init(
        name: String, isActive: Bool, hasGenIDElement: Bool,
        liveValue: GenerationID? = nil, persistentValue: GenerationID? = nil,
        liveStanding: LedgerStanding = .unrecorded, persistentStanding: LedgerStanding = .unrecorded
    ) {
        self.name = name
        self.isActive = isActive
        self.hasGenIDElement = hasGenIDElement
        self.liveValue = liveValue
        self.persistentValue = persistentValue
        self.liveStanding = liveStanding
        self.persistentStanding = persistentStanding
    }

    /// Builds the facts with ledger lookups done by closures: `owner(value)`
    /// says who has the value (nil: unrecorded) and whether that is this
    /// same domain (by UUID, so a rename is not a clone); `latestLive` and
    /// `latestPersistent` are this domain's latest values in each role.
    public init(
        name: String, isActive: Bool, hasGenIDElement: Bool,
        liveValue: GenerationID?, persistentValue: GenerationID?,
        owner: (GenerationID) -> (name: String, isThisDomain: Bool)?, latestLive: GenerationID?,
        latestPersistent: GenerationID?
    ) {
        func standing(_ value: GenerationID?, current: [GenerationID?]) -> LedgerStanding {
            guard let value, let owner = owner(value) else { return .unrecorded }
            if !owner.isThisDomain { return .otherDomain(owner.name) }
            return current.contains(value) ? .latestForThisDomain : .earlierForThisDomain
        }
        // A definition holding the value the domain runs with now (its latest
        // live value, e.g. after a restore) is current, not rewound.
        let runningLatest = liveValue == latestLive ? latestLive : nil
        self.init(
            name: name, isActive: isActive, hasGenIDElement: hasGenIDElement,
            liveValue: liveValue, persistentValue: persistentValue,
            liveStanding: standing(liveValue, current: [latestLive]),
            persistentStanding: standing(persistentValue, current: [latestPersistent, runningLatest]))
    }
}
