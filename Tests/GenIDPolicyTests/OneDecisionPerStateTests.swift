import GenIDPolicy
import Testing
import VMGenID

/// One decision per state: generated domain states (a ledger of a few
/// values owned by this domain or another, in either role, and a domain
/// running or not with any of them) and sequences of the events genidd
/// handles. The policy's actions are carried out on the model as genidd
/// carries them out; then
/// - a reconciliation finds nothing left to do (an event and a
///   reconciliation never decide differently about the state the event left);
/// - an event that knows nothing the state does not show decides exactly
///   what a reconciliation decides;
/// - no running or defined value belongs to another domain, and the next
///   start would not reuse a value this domain has moved on from.
@Suite("One decision per state")
struct OneDecisionPerStateTests {
    static let observingEvents: [PolicyEvent] = [
        .started(.restored), .started(.fromSnapshot), .resumed(.fromSnapshot), .defined(.fromSnapshot),
        .defined(.added), .defined(.updated), .reconcile, .started(.migrated), .resumed(.migrated),
    ]

    @Test(arguments: 0..<8)
    func eventsLeaveNothingForAReconciliation(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        for _ in 0..<500 {
            var model = PolicyModel.random(using: &random)
            let start = model
            var trail: [String] = []
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                // A state load happens to a running domain only.
                let possible = Self.observingEvents.filter {
                    model.active || ![.stateLoaded, .migration].contains(GenIDPolicy.rule(for: $0))
                }
                let event = possible.randomElement(using: &random)!
                let actions = GenIDPolicy.actions(for: event, domain: model.facts)
                trail.append("\(event) -> \(actions)")
                model.apply(actions)
            }
            let after = GenIDPolicy.actions(for: .reconcile, domain: model.facts)
            let settled = after.allSatisfy { $0.isNothingToDo }
            #expect(settled, "from \(start)\n\(trail.joined(separator: "\n"))\nthen reconcile -> \(after)")
            #expect(model.noOtherDomainsValue, "\(start) -> \(model)")
            #expect(model.nextStartIsSafe, "\(start)\n\(trail.joined(separator: "\n"))\n-> \(model)")
            #expect(model.ledgerIsConsistent, "\(start) -> \(model)")
        }
    }

    @Test(arguments: 0..<8)
    func anEventThatKnowsNothingMoreDecidesAsAReconciliation(seed: UInt64) {
        var random = SplitMix64(seed: seed &+ 100)
        for _ in 0..<500 {
            let model = PolicyModel.random(using: &random)
            let facts = model.facts
            let reconcile = GenIDPolicy.actions(for: .reconcile, domain: facts)
            // A migration tells that a value recorded on another host came along.
            var uninformed: [PolicyEvent] = [.defined(.added), .defined(.updated)]
            if model.active { uninformed.append(.defined(.fromSnapshot)) } else { uninformed.append(.stopped(.migrated)) }
            // A load tells nothing more unless the domain runs its definition's value.
            if model.active, model.hasGenID, facts.liveValue != nil, facts.liveValue != facts.persistentValue,
               !facts.liveWasDefinitionValue {
                uninformed.append(.started(.restored))
            }
            for event in uninformed {
                let decided = GenIDPolicy.actions(for: event, domain: facts)
                #expect(decided == reconcile, "\(event) on \(model): \(decided) but reconcile: \(reconcile)")
            }
        }
    }
}

extension PolicyAction {
    var isNothingToDo: Bool {
        switch self {
        case .none, .reportMissingGenID: true
        default: false
        }
    }
}

/// A domain ("web"), another domain ("db"), and the ledger's records (made
/// on this host or another one), with the effects genidd's executor has on them.
struct PolicyModel: CustomStringConvertible {
    struct Record: Equatable {
        var owner: String
        var persistent: Bool
        var order: Int
        var elsewhere = false
    }

    var ledger: [GenerationID: Record] = [:]
    var active = false
    var hasGenID = true
    var live: GenerationID?
    var persistent: GenerationID?
    var snapshotHoldsPersistent = false
    /// The live definition carries the live value (genid's metadata).
    var liveCarried = false
    var nextOrder = 0
    var doubleRecords = 0

    static let pool = (1...5).map { GenerationID("\($0)\($0)\($0)\($0)\($0)\($0)\($0)\($0)-2222-4333-8444-555555555555")! }

    static func random(using random: inout SplitMix64) -> PolicyModel {
        var model = PolicyModel()
        for value in pool.shuffled(using: &random) where Bool.random(using: &random) {
            model.ledger[value] = Record(owner: Bool.random(using: &random) ? "web" : "db",
                                         persistent: Bool.random(using: &random), order: model.nextOrder,
                                         elsewhere: Bool.random(using: &random))
            model.nextOrder += 1
        }
        model.active = Bool.random(using: &random)
        model.hasGenID = Int.random(in: 0..<10, using: &random) > 0
        model.persistent = Int.random(in: 0..<8, using: &random) > 0 ? pool.randomElement(using: &random) : nil
        if model.active {
            // Usually booted with the definition's value; else anything.
            model.live = Bool.random(using: &random) ? model.persistent : pool.randomElement(using: &random)
        }
        model.snapshotHoldsPersistent = !model.active && model.persistent != nil && Bool.random(using: &random)
        model.liveCarried = model.active && Bool.random(using: &random)
        return model
    }

    var facts: DomainFacts {
        func latest(persistent: Bool) -> GenerationID? {
            ledger.filter { $0.value.owner == "web" && $0.value.persistent == persistent }
                .max { $0.value.order < $1.value.order }?.key
        }
        var facts = DomainFacts(
            name: "web", isActive: active, hasGenIDElement: hasGenID, liveValue: live, persistentValue: persistent,
            owner: { value in ledger[value].map { ($0.owner, $0.owner == "web") } },
            latestLive: latest(persistent: false), latestPersistent: latest(persistent: true))
        facts.snapshotWithPersistentValue = snapshotHoldsPersistent ? "snap" : nil
        facts.liveWasDefinitionValue = live.flatMap { ledger[$0] }.map { $0.owner == "web" && $0.persistent } ?? false
        if let record = live.flatMap({ ledger[$0] }), record.owner == "web", record.elsewhere {
            facts.liveRecordedOnHost = "there"
        }
        facts.liveValueCarried = liveCarried
        if let record = persistent.flatMap({ ledger[$0] }), record.owner == "web", record.elsewhere {
            facts.persistentRecordedOnHost = "there"
        }
        return facts
    }

    var noOtherDomainsValue: Bool {
        guard hasGenID else { return true }
        return [live, persistent].compactMap { $0 }.allSatisfy { ledger[$0]?.owner != "db" }
    }

    var ledgerIsConsistent: Bool { doubleRecords == 0 }

    /// The definition holds this domain's current value: recorded, and its
    /// latest definition value or the value it runs with now.
    var nextStartIsSafe: Bool {
        guard hasGenID, persistent != nil else { return true }
        let facts = self.facts
        return facts.persistentStanding == .latestForThisDomain && (active || !snapshotHoldsPersistent)
    }

    /// What `ActionExecutor` does, on the model.
    mutating func apply(_ actions: [PolicyAction]) {
        for action in actions {
            switch action {
            case .none, .reportMissingGenID, .reassertAfterReset:
                break
            case .checkFreshAndRecord:
                if let live { recordObserved(live, persistent: false) }
            case .rotateLive:
                live = issue(persistent: false)
                liveCarried = true  // the rotation carries its value
            case .writePersistentGenID:
                writePersistent()
            case .giveNewValue:
                writePersistent()
                if active, let live, ledger[live]?.owner == "db" {
                    self.live = issue(persistent: false)
                    liveCarried = true
                }
            case .recordPersistentValue:
                if let persistent { recordObserved(persistent, persistent: true) }
            case .recordMove:
                if let live { ledger[live]?.elsewhere = false }
            }
        }
    }

    private mutating func writePersistent() {
        persistent = issue(persistent: true)
        snapshotHoldsPersistent = false
    }

    private mutating func issue(persistent: Bool) -> GenerationID {
        let value = GenerationID.random()
        ledger[value] = Record(owner: "web", persistent: persistent, order: nextOrder)
        nextOrder += 1
        return value
    }

    /// `recordObserved`: already this domain's -> nothing; another's -> refused.
    private mutating func recordObserved(_ value: GenerationID, persistent: Bool) {
        if let record = ledger[value] {
            if record.owner != "web" { doubleRecords += 1 }
            return
        }
        ledger[value] = Record(owner: "web", persistent: persistent, order: nextOrder)
        nextOrder += 1
    }

    var description: String {
        func name(_ value: GenerationID?) -> String {
            guard let value else { return "-" }
            let short = PolicyModel.pool.firstIndex(of: value).map { "v\($0 + 1)" } ?? "new"
            guard let record = ledger[value] else { return short + "(unrecorded)" }
            return short + "(\(record.owner) \(record.persistent ? "persistent" : "live") #\(record.order))"
        }
        return "{active: \(active), genid: \(hasGenID), live: \(name(live)), persistent: \(name(persistent)), "
            + "snapshot: \(snapshotHoldsPersistent), ledger: \(ledger.count) values}"
    }
}

/// A small seeded generator, so a failure names its seed and repeats.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
