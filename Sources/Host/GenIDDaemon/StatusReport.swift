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
            liveValue: domain.liveValue?.description, persistentValue: domain.persistentValue?.description,
            readiness: readiness, readyValue: readyValue?.description, readinessDetail: detail, lastAction: note?.lastAction,
            lastError: domain.hasGenID ? note?.lastError : DaemonError.noGenID(domain: domain.name).description)
    }
}
