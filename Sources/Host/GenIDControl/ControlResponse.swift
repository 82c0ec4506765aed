import Foundation
import GenerationStore

/// genidd's answer: `ok` plus the part that belongs to the command, or
/// `error` with a message a person can act on.
public struct ControlResponse: Codable, Sendable {
    public var ok: Bool
    public var error: String?
    public var status: [DomainStatus]?
    /// With `status`: whether genidd's ledger answers right now.
    public var ledger: LedgerStatus?
    public var history: [GenerationRecord]?
    /// With `history`: older records exist; ask again with this as `before`.
    public var historyBefore: Int64?
    public var rotation: RotationSummary?
    public var ready: ReadyReport?
    public var message: String?

    public init(ok: Bool = true, error: String? = nil, status: [DomainStatus]? = nil, ledger: LedgerStatus? = nil,
                history: [GenerationRecord]? = nil, historyBefore: Int64? = nil, rotation: RotationSummary? = nil, ready: ReadyReport? = nil,
                message: String? = nil) {
        self.ok = ok
        self.error = error
        self.status = status
        self.ledger = ledger
        self.history = history
        self.historyBefore = historyBefore
        self.rotation = rotation
        self.ready = ready
        self.message = message
    }

    public static func failure(_ message: String) -> ControlResponse {
        ControlResponse(ok: false, error: message)
    }
}

/// genidd's ledger as `genidctl status` shows it: where it is, the host
/// name its records carry, and whether it answered a question just now.
public struct LedgerStatus: Codable, Sendable, Equatable {
    public var location: String
    public var host: String
    public var reachable: Bool
    /// Why it could not be reached; while so, genidd gives no value.
    public var error: String?

    public init(location: String, host: String, reachable: Bool, error: String?) {
        self.location = location
        self.host = host
        self.reachable = reachable
        self.error = error
    }
}

/// One domain as genidd sees it.
public struct DomainStatus: Codable, Sendable, Equatable {
    public var name: String
    public var uuid: String
    /// libvirt's state: running, paused, shut off, ...
    public var state: String
    /// The persistent definition has `<genid>`; without it the guest gets no
    /// VMGENID device (`genidctl libvirt enable DOMAIN`).
    public var hasGenID: Bool
    /// The value the running guest has: guest memory when genidd can read
    /// it, else libvirt's word.
    public var liveValue: String?
    /// Where each holder stands: libvirt's live `<genid>` (what QEMU's
    /// vmgenid device was started with, and would write again at a reset or
    /// an incoming migration) and the 16 bytes in guest memory.
    public var libvirtValue: String?
    public var guestMemoryValue: String?
    /// What the running QEMU's vmgenid device holds (libvirt's `<genid>`,
    /// or the value genid carried to it over a migration) and what a
    /// migration would carry to the destination (genid's `<metadata>`).
    public var qemuValue: String?
    public var carriedValue: String?
    /// Set when the holders disagree, or guest memory cannot be read: what
    /// differs and what that exposes the guest to.
    public var disagreement: String?
    public var persistentValue: String?
    /// ready, adjusting, failed (see `readinessDetail`, e.g. no agent
    /// channel), unknown (genidd has not asked yet) or not-running.
    public var readiness: String
    /// The value readiness refers to, and why it is not ready (if not).
    public var readyValue: String?
    public var readinessDetail: String?
    /// The policy's last decision for this domain, and its last failure.
    public var lastAction: String?
    public var lastError: String?

    public init(name: String, uuid: String, state: String, hasGenID: Bool, liveValue: String?,
                libvirtValue: String? = nil, guestMemoryValue: String? = nil, disagreement: String? = nil,
                persistentValue: String?, readiness: String, readyValue: String?, readinessDetail: String?,
                lastAction: String?, lastError: String?) {
        self.name = name
        self.uuid = uuid
        self.state = state
        self.hasGenID = hasGenID
        self.liveValue = liveValue
        self.libvirtValue = libvirtValue
        self.guestMemoryValue = guestMemoryValue
        self.disagreement = disagreement
        self.persistentValue = persistentValue
        self.readiness = readiness
        self.readyValue = readyValue
        self.readinessDetail = readinessDetail
        self.lastAction = lastAction
        self.lastError = lastError
    }
}

/// What a rotate or revert through genidd did.
public struct RotationSummary: Codable, Sendable, Equatable {
    public var domain: String
    public var event: String
    public var source: String
    public var value: String
    public var pauseMilliseconds: Double
    public var totalMilliseconds: Double

    public init(domain: String, event: String, source: String, value: String, pauseMilliseconds: Double,
                totalMilliseconds: Double) {
        self.domain = domain
        self.event = event
        self.source = source
        self.value = value
        self.pauseMilliseconds = pauseMilliseconds
        self.totalMilliseconds = totalMilliseconds
    }
}

/// `wait-ready`: the value the guest adjusted to and how long the caller waited.
public struct ReadyReport: Codable, Sendable, Equatable {
    public var domain: String
    public var value: String
    public var waitedMilliseconds: Double
    /// From the value's arrival in genidd to the guest's answer.
    public var readinessMilliseconds: Double?

    public init(domain: String, value: String, waitedMilliseconds: Double, readinessMilliseconds: Double?) {
        self.domain = domain
        self.value = value
        self.waitedMilliseconds = waitedMilliseconds
        self.readinessMilliseconds = readinessMilliseconds
    }
}
