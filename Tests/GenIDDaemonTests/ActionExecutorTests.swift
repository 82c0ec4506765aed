import Foundation
import GenIDHost
import GenIDPolicy
import GenerationStore
import Logging
import Synchronization
import Testing
import VMGenID
@testable import GenIDDaemon

/// What the executor asked of the domain, and whether each value was in the
/// ledger by the time it reached the domain.
final class RecordingEffects: DomainEffects {
    let store: any GenerationStore
    let vm: VMIdentity
    let failWrites: Bool
    let writes = Mutex<[(value: GenerationID, xml: String, recordedFirst: Bool)]>([])
    let rotations = Mutex<[String]>([])

    init(store: any GenerationStore, vm: VMIdentity, failWrites: Bool = false) {
        self.store = store
        self.vm = vm
        self.failWrites = failWrites
    }

    func writePersistentGenID(_ value: GenerationID, into persistentXML: String) async throws {
        let recorded = try await store.owner(of: value) != nil
        writes.withLock { $0.append((value, persistentXML, recorded)) }
        if failWrites { throw DaemonError.libvirtUnavailable("virDomainDefineXML: connection closed") }
    }

    /// What genid gave the guest in this QEMU run, and what a reset repair found.
    let givenInThisRun = Mutex<GenerationID?>(nil)
    let resetRepair = Mutex<Duration?>(.milliseconds(40))
    let reasserted = Mutex<[(GenerationID, GenerationID)]>([])

    func valueGivenInThisRun(store: any GenerationStore) async throws -> GenerationID? {
        givenInThisRun.withLock { $0 }
    }

    func reassertAfterReset(_ current: GenerationID, replacing stale: GenerationID) async throws -> Duration? {
        reasserted.withLock { $0.append((current, stale)) }
        return resetRepair.withLock { $0 }
    }

    /// What `Rotator.rotate` does to the ledger (its own tests cover the rest).
    func rotateLive(reason: String, store: any GenerationStore) async throws -> Rotation {
        rotations.withLock { $0.append(reason) }
        let record = try await store.issueFresh(for: vm, event: "rotate")
        // A Rotation as genidctl prints it with --json.
        let json = """
            {"vm": "\(vm.name)", "event": "rotate", "source": "genid-rotate-1", "value": "\(record.value)",
             "slot": "0x1ffff028", "signals": ["vmgenid"], "ledgerMilliseconds": 1, "loadMilliseconds": 200, "writeMilliseconds": 0.1,
             "pauseMilliseconds": 201, "totalMilliseconds": 203, "warnings": []}
            """
        return try JSONDecoder().decode(Rotation.self, from: Data(json.utf8))
    }
}

@Suite("Executing the policy's actions (in-memory store, no libvirt)")
struct ActionExecutorTests {
    let store = InMemoryGenerationStore()
    let web = VMIdentity(name: "web", uuid: "6f1d8a52-7c2e-4b9a-9d3e-0a1b2c3d4e5f")
    let db = VMIdentity(name: "db", uuid: "0c9b8a70-6e5d-4c3b-8a29-18f7e6d5c4b3")
    var executor: ActionExecutor {
        ActionExecutor(store: store, metrics: DaemonMetrics(), logger: Logger(label: "test"))
    }

    func domain(_ identity: VMIdentity? = nil, active: Bool, live: GenerationID? = nil, guest: GenerationID? = nil,
                persistent: GenerationID? = .random(), snapshot: String? = nil) -> DomainObservation {
        DomainObservation(identity: identity ?? web, isActive: active, persistentXML: "<domain>persistent</domain>",
                          liveXML: active ? "<domain>live</domain>" : nil, hasGenID: true, libvirtLiveValue: live,
                          persistentValue: persistent, guestValue: guest,
                          guestMemoryError: active && guest == nil ? "its RAM is not shared with the host" : nil,
                          snapshotWithPersistentValue: snapshot)
    }

    /// Policy and executor together, as `DomainGuard.apply` runs them.
    func decideAndExecute(_ event: PolicyEvent, _ observation: DomainObservation,
                          effects: RecordingEffects) async throws -> ([PolicyAction], [ActionOutcome]) {
        let actions = GenIDPolicy.actions(for: event, domain: try await observation.facts(store: store))
        var outcomes: [ActionOutcome] = []
        for action in actions {
            outcomes.append(try await executor.execute(action, event: event, on: observation, effects: effects))
        }
        return (actions, outcomes)
    }

    @Test func aRestoredValueSeenInGuestMemoryIsRecordedAndAwaitsReadiness() async throws {
        let effects = RecordingEffects(store: store, vm: web)
        let (value, definition) = (GenerationID.random(), GenerationID.random())
        let (actions, outcomes) = try await decideAndExecute(
            .started(.restored), domain(active: true, live: value, guest: value, persistent: definition),
            effects: effects)
        #expect(actions == [.checkFreshAndRecord, .recordPersistentValue])
        #expect(outcomes.first == ActionOutcome(readinessValue: value))
        let record = try #require(await store.owner(of: value))
        #expect(record.vm == web && record.role == .live && record.origin == .observed)
        #expect(record.event == "started-restored" && record.detail == "seen in guest memory")
        #expect(effects.writes.withLock { $0 }.isEmpty && effects.rotations.withLock { $0 }.isEmpty)

        // The same event again (or a reconciliation): nothing more.
        let (again, _) = try await decideAndExecute(
            .started(.restored), domain(active: true, live: value, guest: value, persistent: definition),
            effects: effects)
        #expect(again == [.none(reason: "the live value is already recorded for this domain")])
        #expect(try await store.history().count == 2)
    }

    @Test func aValueNotVerifiedInGuestMemoryIsRecordedAsSuchAndShown() async throws {
        let effects = RecordingEffects(store: store, vm: web)
        let value = GenerationID.random()
        let (_, outcomes) = try await decideAndExecute(.started(.restored), domain(active: true, live: value),
                                                       effects: effects)
        #expect(outcomes.first?.note == "its RAM is not shared with the host")
        #expect(await store.owner(of: value)?.detail == "not verified in guest memory")
    }

    @Test func anInactiveRevertGetsAFreshPersistentValueRecordedBeforeItIsWritten() async throws {
        let effects = RecordingEffects(store: store, vm: web)
        let snapshotValue = GenerationID.random()
        try await store.recordObserved(snapshotValue, for: web, role: .persistent, event: "defined")
        let (actions, outcomes) = try await decideAndExecute(.defined(.fromSnapshot),
                                                             domain(active: false, persistent: snapshotValue),
                                                             effects: effects)
        guard actions.count == 1, case .writePersistentGenID = actions[0] else { Issue.record("got \(actions)"); return }
        #expect(outcomes == [ActionOutcome()])
        let writes = effects.writes.withLock { $0 }
        #expect(writes.count == 1 && writes[0].recordedFirst && writes[0].xml == "<domain>persistent</domain>")
        #expect(writes[0].value != snapshotValue)
        let record = try #require(await store.latest(of: web, role: .persistent))
        #expect(record.value == writes[0].value && record.event == "inactive-revert" && record.origin == .issued)
    }

    @Test func aRunningCloneGetsANewDefinitionAndARotation() async throws {
        let effects = RecordingEffects(store: store, vm: web)
        let shared = GenerationID.random()
        try await store.recordObserved(shared, for: db, role: .persistent, event: "defined")
        let (actions, outcomes) = try await decideAndExecute(
            .reconcile, domain(active: true, live: shared, guest: shared, persistent: shared), effects: effects)
        #expect(actions == [.giveNewValue(reason: "domain 'db' has the same value (a clone or copied XML)")])
        let outcome = try #require(outcomes.first)
        #expect(effects.writes.withLock { $0 }.count == 1)
        #expect(effects.rotations.withLock { $0 } == ["runs with the value of domain 'db'"])
        let rotation = try #require(outcome.rotation)
        #expect(outcome.readinessValue == rotation.value)
        #expect(await store.owner(of: rotation.value)?.vm == web)
        #expect(await store.duplicateValues().isEmpty)
    }

    @Test func aRewoundLiveValueIsRotated() async throws {
        let effects = RecordingEffects(store: store, vm: web)
        let old = try await store.issueFresh(for: web, event: "revert").value
        _ = try await store.issueFresh(for: web, event: "revert")
        let (actions, outcomes) = try await decideAndExecute(.started(.fromSnapshot),
                                                             domain(active: true, live: old, guest: old),
                                                             effects: effects)
        #expect(actions.first == .rotateLive(reason: "the live value is one this domain had before: its state was rewound"))
        #expect(effects.rotations.withLock { $0 }.count == 1 && outcomes.first?.rotation != nil)
    }

    /// libvirt's running revert starts a new QEMU with a fresh value and puts
    /// the snapshot's value back into the persistent definition: the event
    /// handles both, so a reconciliation after it finds nothing to do.
    @Test func aRunningRevertAlsoGivesTheDefinitionAFreshValue() async throws {
        let effects = RecordingEffects(store: store, vm: web)
        let snapshotValue = try await store.issueFresh(for: web, role: .persistent, event: "defined").value
        _ = try await store.issueFresh(for: web, role: .persistent, event: "reconcile")
        let fresh = GenerationID.random()
        let loaded = domain(active: true, live: fresh, guest: fresh, persistent: snapshotValue)
        let (actions, _) = try await decideAndExecute(.started(.fromSnapshot), loaded, effects: effects)
        #expect(actions.count == 2 && actions[0] == .checkFreshAndRecord)
        guard case .writePersistentGenID = actions.last else { Issue.record("got \(actions)"); return }
        let written = try #require(effects.writes.withLock { $0 }.first?.value)
        let (after, _) = try await decideAndExecute(
            .reconcile, domain(active: true, live: fresh, guest: fresh, persistent: written), effects: effects)
        #expect(after == [.none(reason: "the live value is already recorded for this domain")])
    }

    @Test func aRenamedDomainIsStillItselfNotAClone() async throws {
        let effects = RecordingEffects(store: store, vm: web)
        let value = GenerationID.random()
        try await store.recordObserved(value, for: web, role: .persistent, event: "defined")
        let renamed = VMIdentity(name: "web-2026", uuid: web.uuid)
        let (actions, _) = try await decideAndExecute(.reconcile, domain(renamed, active: false, persistent: value),
                                                      effects: effects)
        #expect(actions == [.none(reason: "the persistent value is this domain's")])
        #expect(effects.writes.withLock { $0 }.isEmpty)
    }

    @Test func aNewDefinitionsValueIsRecordedOnce() async throws {
        let effects = RecordingEffects(store: store, vm: web)
        let value = GenerationID.random()
        let (actions, _) = try await decideAndExecute(.defined(.added), domain(active: false, persistent: value),
                                                      effects: effects)
        #expect(actions == [.recordPersistentValue])
        let record = try #require(await store.owner(of: value))
        #expect(record.role == .persistent && record.event == "defined" && record.origin == .observed)
    }

    /// A reset after a rotation in this QEMU process: QEMU's device (libvirt's
    /// live value) is stale, and the guest's value is put back; after a
    /// fresh start (nothing given in this run) there is nothing to do.
    @Test func aResetAfterARotationPutsTheGuestsValueBack() async throws {
        let effects = RecordingEffects(store: store, vm: web)
        let (stale, rotated) = (GenerationID.random(), GenerationID.random())
        let running = domain(active: true, live: stale, guest: stale)
        _ = try await decideAndExecute(.reset, running, effects: effects)
        #expect(effects.reasserted.withLock { $0 }.isEmpty)

        effects.givenInThisRun.withLock { $0 = rotated }
        let (actions, outcomes) = try await decideAndExecute(.reset, running, effects: effects)
        #expect(actions == [.reassertAfterReset] && outcomes == [ActionOutcome()])
        #expect(effects.reasserted.withLock { $0.map(\.0) } == [rotated])
        #expect(try await store.auditTrail(vm: "web", limit: nil).map(\.kind) == ["reset-reasserted"])

        // The page never showed QEMU's value: shown, audited, nothing written.
        effects.resetRepair.withLock { $0 = nil }
        let (_, missed) = try await decideAndExecute(.reset, running, effects: effects)
        #expect(missed.first?.note?.contains("never showed QEMU's device value \(stale)") == true)
        #expect(try await store.auditTrail(vm: "web", limit: nil).last?.kind == "reset-exposed")
    }

    @Test func aDomainWithoutGenIDIsReported() async throws {
        let outcome = try await executor.execute(.reportMissingGenID, event: .reconcile, on: domain(active: false),
                                                 effects: RecordingEffects(store: store, vm: web))
        #expect(outcome.note?.contains("genidctl libvirt enable web") == true)
        #expect(try await store.history().isEmpty)
    }

    @Test func aDefinitionThatCannotBeWrittenKeepsItsValueRecordedAndUnused() async throws {
        let effects = RecordingEffects(store: store, vm: web, failWrites: true)
        await #expect(throws: DaemonError.self) {
            try await executor.execute(.writePersistentGenID(reason: "test"), event: .reconcile,
                                       on: domain(active: false), effects: effects)
        }
        // Recorded, so never given to anyone else; the next attempt draws another.
        let first = try #require(await store.latest(of: web, role: .persistent))
        #expect(effects.writes.withLock { $0 }.map(\.value) == [first.value])
    }
}

@Suite("One domain at a time")
struct DomainQueueTests {
    @Test func workForOneDomainRunsInArrivalOrderAndOthersInParallel() async throws {
        let queue = DomainQueue()
        let log = Journal()
        async let first: Void = queue.run("web") {
            log.add("web 1 begins")
            try await Task.sleep(for: .milliseconds(300))
            log.add("web 1 ends")
        }
        try await Task.sleep(for: .milliseconds(50))
        async let second: Void = queue.run("web") { log.add("web 2") }
        async let other: Void = queue.run("db") { log.add("db") }
        _ = try await (first, second, other)
        let steps = log.lines
        #expect(steps.firstIndex(of: "web 2")! > steps.firstIndex(of: "web 1 ends")!)
        #expect(steps.firstIndex(of: "db")! < steps.firstIndex(of: "web 1 ends")!)
        // A failure does not block the domain's next piece of work.
        await #expect(throws: CancellationError.self) { try await queue.run("web") { throw CancellationError() } }
        #expect(try await queue.run("web") { 42 } == 42)
        try await Task.sleep(for: .milliseconds(50))
        #expect(await queue.busyDomains == 0)
    }
}

/// Lines appended from several tasks.
final class Journal: Sendable {
    private let storage = Mutex<[String]>([])
    func add(_ line: String) { storage.withLock { $0.append(line) } }
    var lines: [String] { storage.withLock { $0 } }
}
