import Libvirt
import Logging
import VMGenID

/// Puts a rotation's fresh value into the running domain's live definition
/// (genid's `<metadata>` entry, `DomainXML.carriedGeneration`), so that a
/// migration carries it to the destination, whose hook hands it to the new
/// QEMU (`genidctl libvirt carry`).
///
/// It runs in the rotation's window: the guest is paused and the fresh
/// value is in the ledger but not yet in guest memory. Why no migration can
/// take the older value along: libvirt formats the definition it sends only
/// after the migration's job has begun, and a domain has one such job at a
/// time. So:
///   1. a job runs already -> refuse (the guest resumes unchanged);
///   2. set the metadata;
///   3. a job runs now -> it began between 1 and 3 and may have read the
///      older definition: cancel it (`virDomainAbortJob`; the operator's
///      migration fails and can be retried). If it cannot be cancelled, the
///      rotation is refused.
/// A migration that begins after 3 reads the new value. A rotation that
/// fails after this step leaves the guest paused (`Rotator`), so the
/// carried value is never one the running guest does not have.
struct LiveValueCarrier: Sendable {
    let domain: Domain
    let logger: Logger

    func carry(_ value: GenerationID) throws {
        let name = domain.name
        guard try !domain.hasActiveJob() else { throw DaemonError.jobInProgress(domain: name) }
        try set(value)
        guard try domain.hasActiveJob() else { return }
        logger.warning("a libvirt job began while genidd gave a new value; cancelling it",
                       metadata: ["domain": "\(name)", "value": "\(value)"])
        do {
            try domain.abortJob()
        } catch {
            throw DaemonError.jobInProgress(domain: name)
        }
    }

    /// Outside a rotation: makes the metadata hold the value the guest runs
    /// with (read from guest memory), so that every running domain's value
    /// travels with it, and a destination tells a domain that arrived by a
    /// live migration (its live definition carries its value) from a copy
    /// started there. Skipped while a job runs: a migration then takes
    /// whatever it read, and the guest's value is the same either way.
    func keep(_ current: GenerationID) throws {
        guard try !domain.hasActiveJob() else { return }
        try set(current)
    }

    private func set(_ value: GenerationID) throws {
        try domain.setMetadata(element: DomainXML.carriedGenerationMetadata(value.description),
                               key: DomainXML.continuityPrefix, namespace: DomainXML.continuityNamespace, live: true)
    }
}
