import Foundation

/// One entry of the audit trail: something genid checked or decided about a
/// VM. Values alone do not explain why a VM was (or was not) given a new
/// one; the trail keeps the checks, failures and decisions next to them.
public struct AuditRecord: Sendable, Equatable, Codable {
    public var id: Int64
    /// The VM's name at the time.
    public var vm: String
    /// A short tag: "rotation-failed", "genidd-failure", ...
    public var kind: String
    public var message: String
    public var createdAt: Date

    public init(id: Int64, vm: String, kind: String, message: String, createdAt: Date) {
        self.id = id
        self.vm = vm
        self.kind = kind
        self.message = message
        self.createdAt = createdAt
    }
}
