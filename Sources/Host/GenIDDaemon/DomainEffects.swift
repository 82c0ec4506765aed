import GenIDHost
import GenerationStore
import Libvirt
import Logging
import VMGenID

/// The two things an action can do to a domain beyond the ledger. A
/// protocol, so that `ActionExecutor` is tested without libvirt or QEMU.
protocol DomainEffects: Sendable {
    /// Replaces the `<genid>` of the persistent definition (`persistentXML`)
    /// with `value`: what the next start of the domain uses.
    func writePersistentGenID(_ value: GenerationID, into persistentXML: String) async throws
    /// Gives the running guest a fresh value now (`Rotator.rotate`).
    func rotateLive(reason: String, store: any GenerationStore) async throws -> Rotation
}

/// `DomainEffects` of a domain libvirt owns: definitions through libvirt,
/// rotations through its monitor passthrough (see `LibvirtMonitor`).
struct LibvirtDomainEffects: DomainEffects {
    let domain: Domain
    let connection: Connection
    let logger: Logger

    func writePersistentGenID(_ value: GenerationID, into persistentXML: String) async throws {
        let xml = try DomainXML.settingGenID(.value(value.description), in: persistentXML)
        _ = try connection.defineDomain(xml: xml)
    }

    func rotateLive(reason: String, store: any GenerationStore) async throws -> Rotation {
        let rotator = try await rotator(store: store)
        logger.info("rotating through the QEMU monitor", metadata: ["domain": "\(domain.name)", "reason": "\(reason)"])
        return try await rotator.rotate()
    }

    /// The running domain, attached: its monitor and guest memory.
    func rotator(store: any GenerationStore) async throws -> Rotator {
        let name = domain.name
        guard try domain.isActive() else { throw DaemonError.notRunning(domain: name) }
        guard try DomainXML.genID(in: try domain.xmlDescription()) != .absent else {
            throw DaemonError.noGenID(domain: name)
        }
        let monitor = LibvirtMonitor(domain: domain)
        let memory = try await DomainMemory.openForRotation(domain: name, monitor: monitor)
        let identity = VMIdentity(name: name, uuid: domain.uuidString)
        return Rotator(vm: AttachedVM(identity: identity, monitor: monitor, memory: memory), store: store)
    }
}
