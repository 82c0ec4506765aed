/// One request on genidd's control socket: a JSON object on one line.
///
///     {"command":"wait-ready","domain":"web1","timeoutSeconds":30}
public struct ControlRequest: Codable, Sendable, Equatable {
    public enum Command: String, Codable, Sendable, CaseIterable {
        /// Every domain (or `domain`): its values, readiness, last action.
        case status
        /// Ledger records (all domains or `domain`), newest `limit`.
        case history
        /// Give the running `domain` a new generation now (monitor passthrough).
        case rotate
        /// Revert the running `domain` to internal snapshot `snapshot` in the
        /// same QEMU process, with a fresh value (monitor passthrough).
        case revert
        /// Block until `domain` is ready (guest adjusted to its live value),
        /// at most `timeoutSeconds`.
        case waitReady = "wait-ready"
        /// Run the reconciliation pass now.
        case reconcile
    }

    public var command: Command
    public var domain: String?
    public var snapshot: String?
    public var limit: Int?
    public var timeoutSeconds: Double?

    public init(command: Command, domain: String? = nil, snapshot: String? = nil, limit: Int? = nil,
                timeoutSeconds: Double? = nil) {
        self.command = command
        self.domain = domain
        self.snapshot = snapshot
        self.limit = limit
        self.timeoutSeconds = timeoutSeconds
    }
}
