import GenIDControl
import VMGenID

/// `genidctl status` for one domain: what libvirt, guest memory and the
/// readiness gate say, and genidd's last decision and failure.
enum StatusReport {
    static func make(_ domain: DomainObservation, state: String, readiness gate: ReadinessGate.State?,
                     note: DomainGuard.Note?) -> DomainStatus {
        var readiness = domain.isActive ? "unknown" : "not-running"
        var readyValue: GenerationID?, detail: String?
        if domain.isActive, let gate {
            switch gate {
            case .adjusting(let value, _): (readiness, readyValue) = ("adjusting", value)
            case .ready(let value, _): (readiness, readyValue) = ("ready", value)
            case .failed(let value, let reason): (readiness, readyValue, detail) = ("failed", value, reason)
            }
        }
        var status = DomainStatus(
            name: domain.name, uuid: domain.identity.uuid ?? "", state: state, hasGenID: domain.hasGenID,
            liveValue: domain.liveValue?.description, libvirtValue: domain.libvirtLiveValue?.description,
            guestMemoryValue: domain.guestValue?.description, disagreement: disagreement(domain),
            persistentValue: domain.persistentValue?.description,
            readiness: readiness, readyValue: readyValue?.description, readinessDetail: detail, lastAction: note?.lastAction,
            lastError: domain.hasGenID ? note?.lastError : DaemonError.noGenID(domain: domain.name).description)
        status.qemuValue = domain.qemuValue?.description
        status.carriedValue = domain.carriedValue?.description
        return status
    }

    /// What the holders of a running domain's value disagree on, and what
    /// that exposes the guest to. Guest memory is the current value; QEMU's
    /// device value is what stock QEMU hands the firmware at a reset and
    /// writes at an incoming load; genid's metadata is what a migration
    /// carries. libvirt's `<genid>` alone differing (after a migration that
    /// carried a value) exposes nothing.
    static func disagreement(_ domain: DomainObservation) -> String? {
        guard domain.isActive, domain.hasGenID else { return nil }
        guard let guest = domain.guestValue else {
            return "guest memory cannot be read (\(domain.guestMemoryError ?? "unknown reason")): "
                + "the value the guest runs with is libvirt's word, not verified"
        }
        guard let qemu = domain.qemuValue ?? domain.libvirtLiveValue, qemu != guest else { return nil }
        let migration = domain.carriedValue == guest
            ? "a live migration carries \(guest) to the destination (genid's metadata and libvirt hook)"
            : "a live migration would show the guest \(qemu) (genid's metadata does not carry \(guest))"
        return "the guest runs with \(guest) (guest memory: current); QEMU's device still holds \(qemu), "
            + "which it hands the firmware at a guest reset (genidd then puts \(guest) back before the guest's "
            + "kernel reads it) and writes at a restore or snapshot load that genid does not drive (those "
            + "would show the guest the older value); \(migration)"
    }
}
