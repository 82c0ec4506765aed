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
    /// The value genid gave the running guest in its current QEMU process
    /// (the newest live record issued since QEMU started), if any.
    func valueGivenInThisRun(store: any GenerationStore) async throws -> GenerationID?
    /// After a guest reset: puts `current` back where the firmware just put
    /// QEMU's `stale` device value (`ResetRepair`); the time it took, or nil
    /// if the page never showed `stale`.
    func reassertAfterReset(_ current: GenerationID, replacing stale: GenerationID) async throws -> Duration?
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

    func valueGivenInThisRun(store: any GenerationStore) async throws -> GenerationID? {
        let identity = VMIdentity(name: domain.name, uuid: domain.uuidString)
        guard let latest = try await store.latest(of: identity, role: .live), latest.origin == .issued else { return nil }
        return latest.createdAt > (try ResetRepair.qemuStarted(domain: domain.name)) ? latest.value : nil
    }

    func reassertAfterReset(_ current: GenerationID, replacing stale: GenerationID) async throws -> Duration? {
        try await ResetRepair.reassert(current, replacing: stale, in: domain, within: .seconds(10), logger: logger)
    }

    /// The running domain, attached: its monitor and guest memory.
    func rotator(store: any GenerationStore) async throws -> Rotator {
        let name = domain.name
        guard try domain.isActive() else { throw DaemonError.notRunning(domain: name) }
        guard try DomainXML.genID(in: try domain.xmlDescription()) != .absent else {
            throw DaemonError.noGenID(domain: name)
        }
        let monitor = LibvirtMonitor(domain: domain)
        let memory = try await DomainMemory.openForRotation(domain: domain, monitor: monitor)
        let identity = VMIdentity(name: name, uuid: domain.uuidString)
        let carrier = LiveValueCarrier(domain: domain, logger: logger)
        let vm = try await AttachedVM.withEverySignal(
            identity: identity, monitor: monitor, memory: memory,
            deviceState: .directory(try DomainMemory.privateDirectory(domain: name)),
            qemuPID: try DomainMemory.qemuPID(domain: name))
        return Rotator(vm: vm, store: store, announce: { value in try carrier.carry(value) })
    }
}
