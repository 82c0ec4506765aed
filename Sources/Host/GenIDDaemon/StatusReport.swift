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
        return DomainStatus(
            name: domain.name, uuid: domain.identity.uuid ?? "", state: state, hasGenID: domain.hasGenID,
            liveValue: domain.liveValue?.description, libvirtValue: domain.libvirtLiveValue?.description,
            guestMemoryValue: domain.guestValue?.description, disagreement: disagreement(domain),
            persistentValue: domain.persistentValue?.description,
            readiness: readiness, readyValue: readyValue?.description, readinessDetail: detail, lastAction: note?.lastAction,
            lastError: domain.hasGenID ? note?.lastError : DaemonError.noGenID(domain: domain.name).description)
    }

    /// What the holders of a running domain's value disagree on. After a
    /// genid rotation guest memory is right and libvirt's (and QEMU's) value
    /// is stale; stock QEMU writes that stale value again at a guest reset
    /// and at an incoming load that genid does not drive.
    static func disagreement(_ domain: DomainObservation) -> String? {
        guard domain.isActive, domain.hasGenID else { return nil }
        guard let guest = domain.guestValue else {
            return "guest memory cannot be read (\(domain.guestMemoryError ?? "unknown reason")): "
                + "the value the guest runs with is libvirt's word, not verified"
        }
        guard let libvirt = domain.libvirtLiveValue, libvirt != guest else { return nil }
        return "the guest runs with \(guest) (guest memory: current); libvirt's live <genid> and QEMU's device "
            + "still hold \(libvirt), which QEMU hands the firmware at a guest reset (genidd then puts \(guest) "
            + "back before the guest's kernel reads it) and writes at an incoming migration, restore or "
            + "snapshot load that genid does not drive (those would show the guest the older value)"
    }
}
