/// One request on genidd's control socket: a JSON object on one line.
///
///     {"command":"wait-ready","domain":"web1","timeoutSeconds":30}
public struct ControlRequest: Codable, Sendable, Equatable {
    public enum Command: String, Codable, Sendable, CaseIterable {
        /// Every domain (or `domain`): its values, readiness, last action.
        case status
        /// Ledger records (all domains or `domain`): the newest `limit` (at
        /// most 1,000, the default) older than record `before`, oldest first.
        case history
        /// Give the running `domain` a new generation now (monitor passthrough).
        case rotate
        /// Revert the running `domain` to internal snapshot `snapshot` in the
        /// same QEMU process, with a fresh value (monitor passthrough).
        case revert
        /// Block until `domain` is ready (guest adjusted to its live value),
        /// at most `timeoutSeconds`.
        case waitReady = "wait-ready"
        /// Run the reconciliation pass now (all domains, or `domain`).
        case reconcile
        /// From the libvirt hook: `domain` went through `event` ("start/begin",
        /// "restore/begin", ...). genidd answers at once and looks at the
        /// domain afterwards: the hook must never wait on libvirt.
        case notify
    }

    public var command: Command
    public var domain: String?
    public var snapshot: String?
    public var limit: Int?
    /// `history`: only records older than this record id (the next page).
    public var before: Int64?
    public var timeoutSeconds: Double?
    /// `notify`: the hook's operation and sub-operation.
    public var event: String?

    public init(command: Command, domain: String? = nil, snapshot: String? = nil, limit: Int? = nil,
                before: Int64? = nil, timeoutSeconds: Double? = nil, event: String? = nil) {
        self.command = command
        self.domain = domain
        self.snapshot = snapshot
        self.limit = limit
        self.before = before
        self.timeoutSeconds = timeoutSeconds
        self.event = event
    }
}
