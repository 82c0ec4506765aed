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

    /// The decision when it is one action, as in most rows (nil when two:
    /// those rows ask `GenIDPolicy.actions` directly).
    func decision(for event: PolicyEvent, domain: DomainFacts) -> PolicyAction? {
        let actions = GenIDPolicy.actions(for: event, domain: domain)
        return actions.count == 1 ? actions[0] : nil
    }

    func isNone(_ action: PolicyAction?) -> Bool {
        if case .some(.none) = action { return true }
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
        (.reset, .guestReset), (.crashed, .ignored), (.unknown, .ignored), (.defined(.other), .ignored), (.started(.other), .ignored),
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
        #expect(decision(for: event, domain: facts(live: a)) == .checkFreshAndRecord)
        #expect(isNone(decision(for: event, domain: facts(live: a, liveStanding: .latestForThisDomain))))
        // Loaded and running its definition's earlier value: rewound (a boot
        // would be by design), and the definition gets a fresh value too.
        let rewoundToDefinition = GenIDPolicy.actions(
            for: event, domain: facts(live: a, persistent: a, liveStanding: .earlierForThisDomain,
                                      persistentStanding: .earlierForThisDomain))
        guard rewoundToDefinition.count == 2, case .rotateLive(let rewound) = rewoundToDefinition[0],
              case .writePersistentGenID = rewoundToDefinition[1]
        else { Issue.record("rewound live value not rotated: \(rewoundToDefinition)"); return }
        #expect(rewound.contains("rewound"))
        guard case .rotateLive(let clone) = decision(
            for: event, domain: facts(live: a, liveStanding: .otherDomain("db")))
        else { Issue.record("another domain's live value not rotated"); return }
        #expect(clone.contains("'db'"))
        #expect(decision(for: event, domain: facts(element: false)) == .reportMissingGenID)
        #expect(isNone(decision(for: event, domain: facts(live: nil))))
    }

    // MARK: DEFINED/FROM_SNAPSHOT

    @Test func inactiveRevertGetsAFreshPersistentValue() {
        let action = decision(
            for: .defined(.fromSnapshot), domain: facts(active: false, persistent: a, persistentStanding: .latestForThisDomain))
        guard case .writePersistentGenID(let reason) = action else { Issue.record("\(action)"); return }
        #expect(reason.contains("inactive revert"))
        #expect(decision(for: .defined(.fromSnapshot), domain: facts(active: false, element: false))
            == .reportMissingGenID)
    }

    /// A running revert puts the snapshot's (earlier) value back into the
    /// persistent definition: it gets a fresh one, as a reconciliation would
    /// decide; the live value is STARTED/FROM_SNAPSHOT's.
    @Test func runningRevertGivesTheDefinitionAFreshValue() {
        let reverted = facts(active: true, live: b, persistent: a, liveStanding: .latestForThisDomain,
                             persistentStanding: .earlierForThisDomain)
        guard case .writePersistentGenID = decision(for: .defined(.fromSnapshot), domain: reverted) else {
            Issue.record("\(GenIDPolicy.actions(for: .defined(.fromSnapshot), domain: reverted))"); return
        }
        #expect(GenIDPolicy.actions(for: .defined(.fromSnapshot), domain: reverted)
            == GenIDPolicy.actions(for: .reconcile, domain: reverted))
        let loaded = facts(active: true, live: b, persistent: a, persistentStanding: .earlierForThisDomain)
        #expect(GenIDPolicy.actions(for: .started(.fromSnapshot), domain: loaded).count == 2)
    }

    // MARK: DEFINED/ADDED, DEFINED/UPDATED

    @Test(arguments: [PolicyEvent.defined(.added), .defined(.updated)])
    func definitionChanged(event: PolicyEvent) {
        let clone = decision(
            for: event, domain: facts(active: false, persistent: a, persistentStanding: .otherDomain("golden")))
        guard case .giveNewValue(let reason) = clone else { Issue.record("\(clone)"); return }
        #expect(reason.contains("'golden'"))
        #expect(decision(for: event, domain: facts(active: false, persistent: a)) == .recordPersistentValue)
        #expect(isNone(decision(
            for: event, domain: facts(active: false, persistent: a, persistentStanding: .latestForThisDomain))))
        guard case .writePersistentGenID = decision(
            for: event, domain: facts(active: false, persistent: a, persistentStanding: .earlierForThisDomain))
        else { Issue.record("a definition carrying an earlier value is kept"); return }
        #expect(decision(for: event, domain: facts(active: false, element: false)) == .reportMissingGenID)
        #expect(isNone(decision(for: event, domain: facts(active: false, persistent: nil))))
    }

    // MARK: migration: the arrival is looked at as a reconciliation would

    @Test(arguments: [PolicyEvent.started(.migrated), .resumed(.migrated), .resumed(.postcopy), .stopped(.migrated)])
    func migrationDecidesAsAReconciliation(event: PolicyEvent) {
        for domain in [
            facts(live: a, persistent: a, liveStanding: .latestForThisDomain, persistentStanding: .latestForThisDomain),
            facts(live: a, liveStanding: .otherDomain("db")),
            facts(live: a, liveStanding: .earlierForThisDomain),
            facts(element: false),
        ] {
            #expect(GenIDPolicy.actions(for: event, domain: domain) == GenIDPolicy.actions(for: .reconcile, domain: domain))
        }
    }

    @Test func migrationKeepsTheValueAndMovesItsRecordHere() {
        var arrived = facts(live: b, persistent: a, liveStanding: .latestForThisDomain,
                            persistentStanding: .latestForThisDomain)
        #expect(isNone(decision(for: .started(.migrated), domain: arrived)), "recorded on this host: nothing to do")
        arrived.liveRecordedOnHost = "host-a"
        #expect(decision(for: .started(.migrated), domain: arrived) == .recordMove(from: "host-a"))
        arrived.liveValueCarried = true
        #expect(decision(for: .reconcile, domain: arrived) == .recordMove(from: "host-a"),
                "a missed arrival is caught by the next reconciliation: the live definition carries the value")
        // Never rotated: it runs with its definition's value, recorded as such on the source.
        var booted = facts(live: a, persistent: a, liveStanding: .earlierForThisDomain,
                           persistentStanding: .latestForThisDomain)
        booted.liveWasDefinitionValue = true
        #expect(isNone(decision(for: .started(.migrated), domain: booted)))
        booted.liveRecordedOnHost = "host-a"
        #expect(decision(for: .started(.migrated), domain: booted) == .recordMove(from: "host-a"))
    }

    @Test func aStateLoadThatBroughtBackAnOlderValueIsRotated() {
        // A snapshot taken after a migration: its QEMU device value is the guest's, so the load changes nothing.
        var loaded = facts(live: b, persistent: a, liveStanding: .latestForThisDomain,
                           persistentStanding: .latestForThisDomain)
        #expect(GenIDPolicy.actions(for: .started(.fromSnapshot), domain: loaded).allSatisfy { $0.isNothingToDo })
        loaded.liveRecordedBeforeThisRun = true
        guard case .rotateLive = decision(for: .started(.fromSnapshot), domain: loaded) else {
            Issue.record("a state load showing a value recorded before QEMU started is kept"); return
        }
        #expect(GenIDPolicy.actions(for: .reconcile, domain: loaded).allSatisfy { $0.isNothingToDo },
                "only a state load knows this")
    }

    @Test func aCopyWithTheSameUUIDGetsValuesOfItsOwn() {
        // Defined here from another host's definition: the next start gets a fresh value.
        var copied = facts(active: false, persistent: a, persistentStanding: .latestForThisDomain)
        copied.persistentRecordedOnHost = "host-a"
        guard case .writePersistentGenID = decision(for: .defined(.added), domain: copied) else {
            Issue.record("a definition whose value is recorded on another host is kept"); return
        }
        // Started before genidd saw the definition: the value did not come by a migration.
        var running = facts(live: a, persistent: a, liveStanding: .latestForThisDomain,
                            persistentStanding: .latestForThisDomain)
        running.liveRecordedOnHost = "host-a"
        let actions = GenIDPolicy.actions(for: .reconcile, domain: running)
        guard case .rotateLive = actions.first else {
            Issue.record("a copy running with the original's value is kept: \(actions)"); return
        }
    }

    // MARK: no rotation: boot, wakeup, unpause, rename, the rest

    @Test(arguments: [
        PolicyEvent.started(.booted), .started(.wakeup), .resumed(.unpaused), .defined(.renamed), .undefined, .suspended,
        .stopped(.saved), .stopped(.fromSnapshot), .shutdown, .pmSuspended, .crashed, .unknown,
    ])
    func noRotation(event: PolicyEvent) {
        // Even with facts that would make other rows act.
        for domain in [
            facts(live: a, liveStanding: .otherDomain("db")),
            facts(live: a, liveStanding: .earlierForThisDomain),
            facts(element: false),
        ] {
            #expect(isNone(decision(for: event, domain: domain)), "\(event)")
        }
    }

    // MARK: reconciliation on (re)connection

    @Test func reconcileRunningDomain() {
        // Restored while away: a live value nobody recorded.
        #expect(decision(
            for: .reconcile,
            domain: facts(live: b, persistent: a, liveStanding: .unrecorded, persistentStanding: .latestForThisDomain))
            == .checkFreshAndRecord)
        // Already handled.
        #expect(isNone(decision(
            for: .reconcile,
            domain: facts(live: b, persistent: a, liveStanding: .latestForThisDomain,
                          persistentStanding: .latestForThisDomain))))
        // Booted with its persistent value (a definition value: in the persistent role): by design.
        #expect(isNone(decision(
            for: .reconcile,
            domain: facts(live: a, persistent: a, liveStanding: .earlierForThisDomain,
                          persistentStanding: .latestForThisDomain))))
        var bootedBeforeAnEdit = facts(live: a, persistent: b, liveStanding: .earlierForThisDomain)
        bootedBeforeAnEdit.liveWasDefinitionValue = true
        #expect(decision(for: .reconcile, domain: bootedBeforeAnEdit) == .recordPersistentValue)
        // Its definition carries an earlier value (a running revert put the
        // snapshot's back): the next start gets a fresh one; the live value stays.
        guard case .writePersistentGenID = decision(
            for: .reconcile,
            domain: facts(live: b, persistent: a, liveStanding: .latestForThisDomain,
                          persistentStanding: .earlierForThisDomain))
        else { Issue.record("running domain's rewound definition kept"); return }
        // Running an earlier value that is not its persistent one: rewound.
        guard case .rotateLive = decision(
            for: .reconcile,
            domain: facts(live: b, persistent: a, liveStanding: .earlierForThisDomain,
                          persistentStanding: .latestForThisDomain))
        else { Issue.record("rewound running domain not rotated"); return }
        // Running another domain's live value.
        guard case .rotateLive = decision(
            for: .reconcile,
            domain: facts(live: b, persistent: a, liveStanding: .otherDomain("db"),
                          persistentStanding: .latestForThisDomain))
        else { Issue.record("running clone not rotated"); return }
    }

    @Test func reconcileCloneGetsANewValueFirst() {
        for active in [true, false] {
            let action = decision(
                for: .reconcile,
                domain: facts(active: active, live: active ? a : nil, persistent: a,
                              liveStanding: .otherDomain("golden"), persistentStanding: .otherDomain("golden")))
            guard case .giveNewValue(let reason) = action else { Issue.record("\(action)"); continue }
            #expect(reason.contains("'golden'"))
        }
    }

    @Test func reconcileInactiveDomain() {
        #expect(decision(for: .reconcile, domain: facts(active: false, persistent: a)) == .recordPersistentValue)
        #expect(isNone(decision(
            for: .reconcile, domain: facts(active: false, persistent: a, persistentStanding: .latestForThisDomain))))
        guard case .writePersistentGenID = decision(
            for: .reconcile, domain: facts(active: false, persistent: a, persistentStanding: .earlierForThisDomain))
        else { Issue.record("reverted definition not refreshed"); return }
        #expect(decision(for: .reconcile, domain: facts(active: false, element: false)) == .reportMissingGenID)
        #expect(decision(for: .reconcile, domain: facts(active: true, element: false)) == .reportMissingGenID)
    }

    @Test func reconcileInactiveDomainWhoseValueIsASnapshotsGetsANewOne() {
        var stopped = facts(active: false, persistent: a, persistentStanding: .latestForThisDomain)
        stopped.snapshotWithPersistentValue = "before-upgrade"
        guard case .writePersistentGenID(let reason) = decision(for: .reconcile, domain: stopped) else {
            Issue.record("an unseen inactive revert is not caught"); return
        }
        #expect(reason.contains("'before-upgrade'"))
        // Running: the live value is what matters now; the events of its next start decide.
        var running = facts(active: true, live: b, persistent: a, liveStanding: .latestForThisDomain,
                            persistentStanding: .latestForThisDomain)
        running.snapshotWithPersistentValue = "before-upgrade"
        #expect(isNone(decision(for: .reconcile, domain: running)))
    }

    // MARK: REBOOT (a guest reset)

    @Test func aResetOfARunningDomainPutsItsValueBack() {
        #expect(decision(for: .reset, domain: facts(live: a, liveStanding: .latestForThisDomain)) == .reassertAfterReset)
        #expect(isNone(decision(for: .reset, domain: facts(active: false, persistent: a))))
        #expect(isNone(decision(for: .reset, domain: facts(element: false))))
    }

    // MARK: building facts from ledger lookups

    @Test func factsFromLedgerLookups() {
        let owners = [a: (name: "web", isThisDomain: true), b: (name: "db", isThisDomain: false)]
        let mine = DomainFacts(
            name: "web", isActive: true, hasGenIDElement: true, liveValue: a, persistentValue: a,
            owner: { owners[$0] }, latestLive: a, latestPersistent: GenerationID("99999999-2222-4333-8444-555555555555")!)
        #expect(mine.liveStanding == .latestForThisDomain)
        // The definition holds the value the domain runs with now: current.
        #expect(mine.persistentStanding == .latestForThisDomain)
        let rewound = DomainFacts(
            name: "web", isActive: true, hasGenIDElement: true, liveValue: b, persistentValue: a,
            owner: { owners[$0] }, latestLive: nil, latestPersistent: GenerationID("99999999-2222-4333-8444-555555555555")!)
        #expect(rewound.persistentStanding == .earlierForThisDomain)
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
            .started(.migrated), .defined(.renamed), .undefined, .reset,
        ]
        #expect(Set(events.map(GenIDPolicy.rule(for:))) == Set(GenIDPolicy.Rule.allCases))
    }
}
