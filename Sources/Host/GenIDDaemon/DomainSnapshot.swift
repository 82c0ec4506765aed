import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import GenIDPolicy
import GenerationLedger
import Libvirt
import VMGenID

/// One domain as it is right now: its two definitions, the value its guest
/// sees, and what the ledger says about them; turned into the policy's
/// `DomainFacts`.
struct DomainSnapshot {
    let domain: Domain
    let name: String
    let isActive: Bool
    let persistentXML: String
    let liveXML: String?
    let hasGenID: Bool
    /// `<genid>` of the live definition (libvirt's idea of the value).
    let libvirtLiveValue: String?
    let persistentValue: String?
    /// The 16 bytes in guest memory, when genidd can read them.
    let guestValue: String?
    let guestMemoryError: String?
    /// A snapshot whose definition holds the persistent value (inactive
    /// domains only: that is where a start would reuse it).
    let snapshotWithPersistentValue: String?

    /// What the guest runs with: its memory if readable, else libvirt's word.
    var liveValue: String? { guestValue ?? libvirtLiveValue }

    static func take(_ domain: Domain) throws -> DomainSnapshot {
        let name = domain.name
        let active = try domain.isActive()
        let persistentXML = try domain.xmlDescription(inactive: true)
        let liveXML = active ? try domain.xmlDescription() : nil
        let persistentGenID = try DomainXML.genID(in: persistentXML)
        let liveGenID = try liveXML.map { xml throws(LibvirtError) in try DomainXML.genID(in: xml) }
        var guestValue: String?
        var guestMemoryError: String?
        if active, liveGenID?.value != nil {
            do {
                guestValue = try DomainMemory.guestValue(domain: name).0.description
            } catch {
                guestMemoryError = "\(error)"
            }
        }
        var snapshotWithPersistentValue: String?
        if !active, let persistent = persistentGenID.value {
            snapshotWithPersistentValue = try domain.snapshotNames().sorted().first { name in
                guard let xml = try? domain.snapshotXML(named: name) else { return false }
                return Self.genIDValue(inSnapshotXML: xml) == persistent
            }
        }
        return DomainSnapshot(
            domain: domain, name: name, isActive: active, persistentXML: persistentXML, liveXML: liveXML,
            hasGenID: persistentGenID != .absent || (liveGenID.map { $0 != .absent } ?? false),
            libvirtLiveValue: liveGenID?.value, persistentValue: persistentGenID.value,
            guestValue: guestValue, guestMemoryError: guestMemoryError,
            snapshotWithPersistentValue: snapshotWithPersistentValue)
    }

    /// `<domainsnapshot><domain><genid>` of a snapshot's XML.
    static func genIDValue(inSnapshotXML xml: String) -> String? {
        guard let root = try? XMLDocument(xmlString: xml).rootElement(),
              let domain = root.elements(forName: "domain").first,
              let genid = domain.elements(forName: "genid").first?.stringValue else { return nil }
        let value = genid.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        return value.isEmpty ? nil : value
    }

    func facts(ledger: GenerationLedger) throws -> DomainFacts {
        let history = try ledger.history(vm: name)
        var facts = DomainFacts(
            name: name, isActive: isActive, hasGenIDElement: hasGenID,
            liveValue: liveValue, persistentValue: persistentValue,
            owner: { value in (try? ledger.record(for: value))??.vm },
            latestLive: history.last { !LedgerEvent.isPersistent($0.event) }?.value,
            latestPersistent: history.last { LedgerEvent.isPersistent($0.event) }?.value)
        facts.snapshotWithPersistentValue = snapshotWithPersistentValue
        return facts
    }
}

/// How genidd names its ledger records: values in a persistent definition
/// (the next start's) start with "persistent."; everything else is a value
/// a running guest had.
enum LedgerEvent {
    static func isPersistent(_ event: String) -> Bool { event.hasPrefix("persistent.") }
    static func persistent(_ why: String) -> String { "persistent.\(why)" }
    static func live(_ why: String) -> String { "live.\(why)" }
}
