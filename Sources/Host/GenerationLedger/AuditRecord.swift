import Foundation

/// One entry of the audit trail: something genid checked or decided about a VM.
///
/// Values alone do not explain why a VM was (or was not) given a new one; the
/// audit trail keeps the checks, failures and decisions next to them.
public struct AuditRecord: Sendable, Equatable, Codable {
    /// Ledger row id; increases with time, so it orders the trail.
    public var id: Int64
    /// The VM the entry is about.
    public var vm: String
    /// A short machine-friendly tag: "check", "rotation-failed", "decision", ...
    public var kind: String
    /// What happened, for a person.
    public var message: String
    /// When the entry was written (millisecond precision, stored in UTC).
    public var createdAt: Date

    public init(id: Int64, vm: String, kind: String, message: String, createdAt: Date) {
        self.id = id
        self.vm = vm
        self.kind = kind
        self.message = message
        self.createdAt = createdAt
    }
}
