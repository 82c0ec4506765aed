import Foundation
import GenIDPolicy
import GenerationStore
import Libvirt
import VMGenID

/// One domain as it is right now, read once per event: its two definitions,
/// the value its guest sees (one ACPI walk), and, for an inactive domain,
/// which snapshot holds its persistent value. A plain value: the policy's
/// facts, the action and the status report are all made from it.
struct DomainObservation: Sendable {
    let identity: VMIdentity
    let isActive: Bool
    let persistentXML: String
    let liveXML: String?
    let hasGenID: Bool
    /// `<genid>` of the live definition (libvirt's idea of the value).
    let libvirtLiveValue: GenerationID?
    /// What the running QEMU's device holds (libvirt's `<genid>`, or the
    /// value a migration's destination was created with) and what a
    /// migration would carry (genid's `<metadata>`).
    var qemuValue: GenerationID? = nil
    var carriedValue: GenerationID? = nil
    let persistentValue: GenerationID?
    /// The 16 bytes in guest memory, when genidd can read them.
    let guestValue: GenerationID?
    let guestMemoryError: String?
    /// A snapshot whose definition holds the persistent value (inactive
    /// domains only: that is where a start would reuse it).
    let snapshotWithPersistentValue: String?

    var name: String { identity.name }

    /// What the guest runs with: its memory if readable, else libvirt's word.
    var liveValue: GenerationID? { guestValue ?? libvirtLiveValue }

    static func read(_ domain: Domain) async throws -> DomainObservation {
        let name = domain.name
        let active = try domain.isActive()
        let persistentXML = try domain.xmlDescription(inactive: true)
        let liveXML = active ? try domain.xmlDescription() : nil
        let persistentGenID = try DomainXML.genID(in: persistentXML)
        let liveGenID = try liveXML.map { xml throws(LibvirtError) in try DomainXML.genID(in: xml) }
        var guestValue: GenerationID?
        var guestMemoryError: String?
        if active, liveGenID?.value != nil {
            do {
                guestValue = try await DomainMemory.guestValue(domain: domain)
            } catch {
                guestMemoryError = "\(error)"
            }
        }
        let persistentValue = persistentGenID.value.flatMap(GenerationID.init)
        var snapshotWithPersistentValue: String?
        if !active, let persistentValue {
            snapshotWithPersistentValue = try domain.snapshotNames().sorted().first { snapshot in
                guard let xml = try? domain.snapshotXML(named: snapshot) else { return false }
                return Self.genIDValue(inSnapshotXML: xml) == persistentValue
            }
        }
        let holders = try liveXML.map { xml throws(LibvirtError) in try DomainXML.liveHolders(in: xml) }
        var observation = DomainObservation(
            identity: VMIdentity(name: name, uuid: domain.uuidString), isActive: active,
            persistentXML: persistentXML, liveXML: liveXML,
            hasGenID: persistentGenID != .absent || (liveGenID.map { $0 != .absent } ?? false),
            libvirtLiveValue: liveGenID?.value.flatMap(GenerationID.init), persistentValue: persistentValue,
            guestValue: guestValue, guestMemoryError: guestMemoryError,
            snapshotWithPersistentValue: snapshotWithPersistentValue)
        observation.qemuValue = holders?.qemu.flatMap(GenerationID.init)
        observation.carriedValue = holders?.carried.flatMap(GenerationID.init)
        return observation
    }

    /// `<domainsnapshot><domain><genid>` of a snapshot's XML.
    static func genIDValue(inSnapshotXML xml: String) -> GenerationID? {
        (try? DomainXML.genID(inSnapshot: xml))?.value.flatMap(GenerationID.init)
    }

    /// The policy's view: this observation plus what the ledger says of its
    /// two values (one question to the store: `GenerationStore.view`).
    /// `qemuStarted`: when the running QEMU process started, given after a
    /// state load (`DomainFacts.liveRecordedBeforeThisRun`).
    func facts(store: any GenerationStore, qemuStarted: Date? = nil) async throws -> DomainFacts {
        let view = try await store.view(of: [liveValue, persistentValue].compactMap { $0 }, for: identity)
        let owners = view.records.mapValues { (name: $0.vm.name, isThisDomain: $0.vm.isSameVM(as: identity)) }
        let liveWasDefinitionValue = liveValue.flatMap { view.records[$0] }
            .map { $0.vm.isSameVM(as: identity) && $0.role == .persistent } ?? false
        var facts = DomainFacts(
            name: name, isActive: isActive, hasGenIDElement: hasGenID,
            liveValue: liveValue, persistentValue: persistentValue, owner: { owners[$0] },
            latestLive: view.latestLive?.value, latestPersistent: view.latestPersistent?.value)
        facts.snapshotWithPersistentValue = snapshotWithPersistentValue
        facts.liveWasDefinitionValue = liveWasDefinitionValue
        func otherHost(of value: GenerationID?) -> String? {
            guard let record = value.flatMap({ view.records[$0] }), record.vm.isSameVM(as: identity),
                  let host = record.host, !host.isEmpty, host != store.host else { return nil }
            return host
        }
        facts.liveRecordedOnHost = otherHost(of: liveValue)
        facts.persistentRecordedOnHost = otherHost(of: persistentValue)
        facts.liveValueCarried = liveValue != nil && carriedValue == liveValue
        if let qemuStarted, let record = liveValue.flatMap({ view.records[$0] }), record.vm.isSameVM(as: identity) {
            facts.liveRecordedBeforeThisRun = record.createdAt < qemuStarted
        }
        return facts
    }
}
