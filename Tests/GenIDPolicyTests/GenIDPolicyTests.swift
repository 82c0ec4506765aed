import GenIDPolicy
import Testing
import VMGenID

/// Every row of the event -> action table.
@Suite("GenIDPolicy table")
struct GenIDPolicyTests {
    let a = GenerationID("11111111-2222-4333-8444-555555555555")!
    let b = GenerationID("0f3c2a9e-1b7d-4e5f-8a6b-9c0d1e2f3a4b")!

    func facts(
        active: Bool = true, element: Bool = true, live: GenerationID? = nil, persistent: GenerationID? = nil,
        liveStanding: LedgerStanding = .unrecorded, persistentStanding: LedgerStanding = .unrecorded
    ) -> DomainFacts {
        DomainFacts(
            name: "web", isActive: active, hasGenIDElement: element, liveValue: live, persistentValue: persistent,
            liveStanding: liveStanding, persistentStanding: persistentStanding)
    }

    func isNone(_ action: PolicyAction) -> Bool {
        if case .none = action { return true }
        return false
    }

    // MARK: the left column

    @Test(arguments: [
        (PolicyEvent.started(.restored), GenIDPolicy.Rule.stateLoaded),
        (.started(.fromSnapshot), .stateLoaded),
        (.resumed(.fromSnapshot), .stateLoaded),
        (.defined(.fromSnapshot), .definitionReverted),
        (.defined(.added), .definitionChanged),
        (.defined(.updated), .definitionChanged),
        (.reconcile, .reconcile),
        (.started(.booted), .sameGeneration),
        (.started(.wakeup), .sameGeneration),
        (.resumed(.unpaused), .sameGeneration),
        (.started(.migrated), .migration),
        (.resumed(.migrated), .migration),
        (.resumed(.postcopy), .migration),
        (.stopped(.migrated), .migration),
        (.defined(.renamed), .renamed),
        (.undefined, .ignored), (.suspended, .ignored), (.shutdown, .ignored), (.pmSuspended, .ignored),
        (.crashed, .ignored), (.unknown, .ignored), (.defined(.other), .ignored), (.started(.other), .ignored),
        (.resumed(.other), .ignored), (.stopped(.shutdown), .ignored), (.stopped(.destroyed), .ignored),
        (.stopped(.crashed), .ignored), (.stopped(.saved), .ignored), (.stopped(.failed), .ignored),
        (.stopped(.fromSnapshot), .ignored), (.stopped(.other), .ignored),
    ])
    func eventsMapToRules(event: PolicyEvent, rule: GenIDPolicy.Rule) {
        #expect(GenIDPolicy.rule(for: event) == rule, "\(event)")
    }

    // MARK: state loaded (STARTED/RESTORED, STARTED/FROM_SNAPSHOT, RESUMED/FROM_SNAPSHOT)

    @Test(arguments: [PolicyEvent.started(.restored), .started(.fromSnapshot), .resumed(.fromSnapshot)])
    func stateLoaded(event: PolicyEvent) {
        #expect(GenIDPolicy.action(for: event, domain: facts(live: a)) == .checkFreshAndRecord)
        #expect(isNone(GenIDPolicy.action(for: event, domain: facts(live: a, liveStanding: .latestForThisDomain))))
        guard case .rotateLive(let rewound) = GenIDPolicy.action(
            for: event, domain: facts(live: a, persistent: a, liveStanding: .earlierForThisDomain))
        else { Issue.record("rewound live value not rotated"); return }
        #expect(rewound.contains("rewound"))
        guard case .rotateLive(let clone) = GenIDPolicy.action(
            for: event, domain: facts(live: a, liveStanding: .otherDomain("db")))
        else { Issue.record("another domain's live value not rotated"); return }
        #expect(clone.contains("'db'"))
        #expect(GenIDPolicy.action(for: event, domain: facts(element: false)) == .reportMissingGenID)
        #expect(isNone(GenIDPolicy.action(for: event, domain: facts(live: nil))))
    }

    // MARK: DEFINED/FROM_SNAPSHOT

    @Test func inactiveRevertGetsAFreshPersistentValue() {
        let action = GenIDPolicy.action(
            for: .defined(.fromSnapshot), domain: facts(active: false, persistent: a, persistentStanding: .latestForThisDomain))
        guard case .writePersistentGenID(let reason) = action else { Issue.record("\(action)"); return }
        #expect(reason.contains("inactive revert"))
        #expect(GenIDPolicy.action(for: .defined(.fromSnapshot), domain: facts(active: false, element: false))
            == .reportMissingGenID)
    }

    @Test func runningRevertLeavesItToStartedFromSnapshot() {
        let action = GenIDPolicy.action(for: .defined(.fromSnapshot), domain: facts(active: true, live: a, persistent: a))
        #expect(isNone(action))
    }

    // MARK: DEFINED/ADDED, DEFINED/UPDATED

    @Test(arguments: [PolicyEvent.defined(.added), .defined(.updated)])
    func definitionChanged(event: PolicyEvent) {
        let clone = GenIDPolicy.action(
            for: event, domain: facts(active: false, persistent: a, persistentStanding: .otherDomain("golden")))
        guard case .giveNewValue(let reason) = clone else { Issue.record("\(clone)"); return }
        #expect(reason.contains("'golden'"))
        #expect(GenIDPolicy.action(for: event, domain: facts(active: false, persistent: a)) == .recordPersistentValue)
        #expect(isNone(GenIDPolicy.action(
            for: event, domain: facts(active: false, persistent: a, persistentStanding: .latestForThisDomain))))
        #expect(isNone(GenIDPolicy.action(
            for: event, domain: facts(active: false, persistent: a, persistentStanding: .earlierForThisDomain))))
        #expect(GenIDPolicy.action(for: event, domain: facts(active: false, element: false)) == .reportMissingGenID)
        #expect(isNone(GenIDPolicy.action(for: event, domain: facts(active: false, persistent: nil))))
    }

    // MARK: no rotation: boot, wakeup, unpause, migration, rename, the rest

    @Test(arguments: [
        PolicyEvent.started(.booted), .started(.wakeup), .resumed(.unpaused), .started(.migrated),
        .resumed(.migrated), .resumed(.postcopy), .stopped(.migrated), .defined(.renamed), .undefined, .suspended,
        .stopped(.saved), .stopped(.fromSnapshot), .shutdown, .pmSuspended, .crashed, .unknown,
    ])
    func noRotation(event: PolicyEvent) {
        // Even with facts that would make other rows act.
        for domain in [
            facts(live: a, liveStanding: .otherDomain("db")),
            facts(live: a, liveStanding: .earlierForThisDomain),
            facts(element: false),
        ] {
            #expect(isNone(GenIDPolicy.action(for: event, domain: domain)), "\(event)")
        }
    }

    // MARK: reconciliation on (re)connection

    @Test func reconcileRunningDomain() {
        // Restored while away: a live value nobody recorded.
        #expect(GenIDPolicy.action(
            for: .reconcile,
            domain: facts(live: b, persistent: a, liveStanding: .unrecorded, persistentStanding: .latestForThisDomain))
            == .checkFreshAndRecord)
        // Already handled.
        #expect(isNone(GenIDPolicy.action(
            for: .reconcile,
            domain: facts(live: b, persistent: a, liveStanding: .latestForThisDomain,
                          persistentStanding: .earlierForThisDomain))))
        // Booted with its persistent value (an earlier one): by design.
        #expect(isNone(GenIDPolicy.action(
            for: .reconcile,
            domain: facts(live: a, persistent: a, liveStanding: .earlierForThisDomain,
                          persistentStanding: .earlierForThisDomain))))
        // Running an earlier value that is not its persistent one: rewound.
        guard case .rotateLive = GenIDPolicy.action(
            for: .reconcile,
            domain: facts(live: b, persistent: a, liveStanding: .earlierForThisDomain,
                          persistentStanding: .latestForThisDomain))
        else { Issue.record("rewound running domain not rotated"); return }
        // Running another domain's live value.
        guard case .rotateLive = GenIDPolicy.action(
            for: .reconcile,
            domain: facts(live: b, persistent: a, liveStanding: .otherDomain("db"),
                          persistentStanding: .latestForThisDomain))
        else { Issue.record("running clone not rotated"); return }
    }

    @Test func reconcileCloneGetsANewValueFirst() {
        for active in [true, false] {
            let action = GenIDPolicy.action(
                for: .reconcile,
                domain: facts(active: active, live: active ? a : nil, persistent: a,
                              liveStanding: .otherDomain("golden"), persistentStanding: .otherDomain("golden")))
            guard case .giveNewValue(let reason) = action else { Issue.record("\(action)"); continue }
            #expect(reason.contains("'golden'"))
        }
    }

    @Test func reconcileInactiveDomain() {
        #expect(GenIDPolicy.action(for: .reconcile, domain: facts(active: false, persistent: a)) == .recordPersistentValue)
        #expect(isNone(GenIDPolicy.action(
            for: .reconcile, domain: facts(active: false, persistent: a, persistentStanding: .latestForThisDomain))))
        guard case .writePersistentGenID = GenIDPolicy.action(
            for: .reconcile, domain: facts(active: false, persistent: a, persistentStanding: .earlierForThisDomain))
        else { Issue.record("reverted definition not refreshed"); return }
        #expect(GenIDPolicy.action(for: .reconcile, domain: facts(active: false, element: false)) == .reportMissingGenID)
        #expect(GenIDPolicy.action(for: .reconcile, domain: facts(active: true, element: false)) == .reportMissingGenID)
    }

    @Test func reconcileInactiveDomainWhoseValueIsASnapshotsGetsANewOne() {
        var stopped = facts(active: false, persistent: a, persistentStanding: .latestForThisDomain)
        stopped.snapshotWithPersistentValue = "before-upgrade"
        guard case .writePersistentGenID(let reason) = GenIDPolicy.action(for: .reconcile, domain: stopped) else {
            Issue.record("an unseen inactive revert is not caught"); return
        }
        #expect(reason.contains("'before-upgrade'"))
        // Running: the live value is what matters now; the events of its next start decide.
        var running = facts(active: true, live: b, persistent: a, liveStanding: .latestForThisDomain,
                            persistentStanding: .latestForThisDomain)
        running.snapshotWithPersistentValue = "before-upgrade"
        #expect(isNone(GenIDPolicy.action(for: .reconcile, domain: running)))
    }

    // MARK: building facts from ledger lookups

    @Test func factsFromLedgerLookups() {
        let owners = [a: (name: "web", isThisDomain: true), b: (name: "db", isThisDomain: false)]
        let mine = DomainFacts(
            name: "web", isActive: true, hasGenIDElement: true, liveValue: a, persistentValue: a,
            owner: { owners[$0] }, latestLive: a, latestPersistent: GenerationID("99999999-2222-4333-8444-555555555555")!)
        #expect(mine.liveStanding == .latestForThisDomain)
        #expect(mine.persistentStanding == .earlierForThisDomain)
        let clone = DomainFacts(
            name: "web", isActive: false, hasGenIDElement: true, liveValue: nil, persistentValue: b,
            owner: { owners[$0] }, latestLive: nil, latestPersistent: nil)
        #expect(clone.persistentStanding == .otherDomain("db"))
        #expect(clone.liveStanding == .unrecorded)
        let fresh = DomainFacts(
            name: "new", isActive: false, hasGenIDElement: true, liveValue: nil,
            persistentValue: GenerationID("77777777-2222-4333-8444-555555555555")!,
            owner: { owners[$0] }, latestLive: nil, latestPersistent: nil)
        #expect(fresh.persistentStanding == .unrecorded)
    }

    @Test func everyRuleIsCovered() {
        let events: [PolicyEvent] = [
            .started(.restored), .defined(.fromSnapshot), .defined(.added), .reconcile, .started(.booted),
            .started(.migrated), .defined(.renamed), .undefined,
        ]
        #expect(Set(events.map(GenIDPolicy.rule(for:))) == Set(GenIDPolicy.Rule.allCases))
    }
}
