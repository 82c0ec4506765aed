/// What genidd does about one event for one domain.
public enum PolicyAction: Sendable, Hashable, CustomStringConvertible {
    /// Nothing to do; `reason` goes to the audit trail.
    case none(reason: String)
    /// The live value is new to the ledger: check that the guest sees it in
    /// its VMGENID page, then record it. If the guest sees something else,
    /// rotate with the host-rotation machinery, or report why it could not.
    case checkFreshAndRecord
    /// The running guest has a value that is not fresh: rotate it with the
    /// host-rotation machinery (fresh value from the ledger), or report why
    /// it could not.
    case rotateLive(reason: String)
    /// Write a fresh `<genid>` into the persistent definition (record it
    /// first), so that the next start is a new generation.
    case writePersistentGenID(reason: String)
    /// This domain shares its value with another one: give it (the newer
    /// domain) a fresh persistent value, and rotate the live value too if it
    /// runs with the shared one.
    case giveNewValue(reason: String)
    /// The persistent value is new to the ledger: record it for this domain,
    /// so that a later copy is recognised as a clone.
    case recordPersistentValue
    /// The live value is this domain's latest, recorded on another host:
    /// the domain migrated here. Move the record to this host (the same
    /// value, no new one).
    case recordMove(from: String)
    /// The guest was reset: QEMU's device gave the firmware its own value
    /// again, stale if genid rotated the guest in this QEMU process. Put the
    /// value the guest had back before its kernel reads the stale one.
    case reassertAfterReset
    /// No `<genid>` element: show it in `status`; `genidctl libvirt enable
    /// DOMAIN` adds one (effective at the next start).
    case reportMissingGenID

    public var description: String {
        switch self {
        case .none(let reason): "nothing to do (\(reason))"
        case .checkFreshAndRecord: "check the live value is fresh and seen by the guest, record it"
        case .rotateLive(let reason): "rotate the live value (\(reason))"
        case .writePersistentGenID(let reason): "write a fresh <genid> into the persistent definition (\(reason))"
        case .giveNewValue(let reason): "give this domain a new value (\(reason))"
        case .recordPersistentValue: "record the persistent value"
        case .recordMove(let host): "move the live value's record here from host '\(host)' (a migration)"
        case .reassertAfterReset: "put the guest's value back after the reset (QEMU's device holds an older one)"
        case .reportMissingGenID: "report: no <genid> element"
        }
    }
}
