import Foundation

/// One value given to (or seen in) one VM, and why.
///
/// A row of the ledger's `generation` table. `value` is unique across the
/// whole ledger: that is the guarantee that a VM Generation ID is never given
/// twice, whichever VM it went to.
public struct GenerationRecord: Sendable, Equatable, Codable {
    /// Whether genid chose the value or only saw it.
    ///
    /// Both kinds block reuse; the distinction matters when reading history
    /// (an observed value, e.g. QEMU's own boot value, was not chosen by genid).
    public enum Origin: String, Sendable, Equatable, Codable, CaseIterable {
        /// genid generated the value and wrote (or is about to write) it into the VM.
        case issued
        /// genid found the value already in the VM (e.g. the value QEMU chose at boot).
        case observed
    }

    /// Ledger row id; increases with time, so it orders the history.
    public var id: Int64
    /// The VM's name as the caller knows it (e.g. the QEMU `-name`).
    public var vm: String
    /// The VM Generation ID in lower-case RFC 4122 text form.
    public var value: String
    /// What caused the value: "boot", "revert", "restore", "rotate", "clone", "observed", ...
    public var event: String
    /// Free text for a person: snapshot name, state file, ...
    public var detail: String?
    /// Whether genid issued the value or only observed it.
    public var origin: Origin
    /// When the value was recorded (millisecond precision, stored in UTC).
    public var createdAt: Date

    public init(
        id: Int64, vm: String, value: String, event: String,
        detail: String? = nil, origin: Origin, createdAt: Date
    ) {
        self.id = id
        self.vm = vm
        self.value = value
        self.event = event
        self.detail = detail
        self.origin = origin
        self.createdAt = createdAt
    }
}
