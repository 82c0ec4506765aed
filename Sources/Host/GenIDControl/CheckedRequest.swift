/// A control request whose every argument has been checked: genidd's
/// handler takes only this, so no number or name from a peer reaches
/// arithmetic, a conversion or libvirt unchecked.
public enum CheckedRequest: Sendable, Equatable {
    case status(domain: String?)
    case history(domain: String?, page: HistoryPage)
    case rotate(domain: String)
    case revert(domain: String, snapshot: String)
    /// `timeout` nil: genidd's configured readiness timeout.
    case waitReady(domain: String, timeout: Duration?)
    case reconcile(domain: String?)
    case notify(domain: String, event: String)
}

/// One page of the ledger's history: the newest `limit` records older than
/// record `before` (the newest of all when nil).
public struct HistoryPage: Sendable, Equatable {
    public var limit: Int
    public var before: Int64?

    public init(limit: Int, before: Int64?) {
        self.limit = limit
        self.before = before
    }
}

/// The bounds of every argument a peer may send.
public enum ControlLimits {
    /// `wait-ready`: an hour. Longer waits are a loop in the caller.
    public static let maximumWaitSeconds = 3600.0
    /// `history`: records in one response; the client pages for more.
    public static let maximumHistoryPage = 1000
    /// Domain, snapshot and hook event names, in UTF-8 bytes.
    public static let maximumNameBytes = 1024
}

public struct ControlRequestError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String

    init(_ description: String) { self.description = description }
}

extension ControlRequest {
    /// Checks every argument the command uses, and refuses arguments it
    /// does not use (a misdirected request is a mistake worth saying).
    public func checked() throws(ControlRequestError) -> CheckedRequest {
        try refuseUnused()
        switch command {
        case .status:
            return .status(domain: try optionalName(domain, "domain"))
        case .history:
            return .history(domain: try optionalName(domain, "domain"), page: try historyPage())
        case .rotate:
            return .rotate(domain: try name(domain, "domain"))
        case .revert:
            return .revert(domain: try name(domain, "domain"), snapshot: try name(snapshot, "snapshot"))
        case .waitReady:
            return .waitReady(domain: try name(domain, "domain"), timeout: try waitTimeout())
        case .reconcile:
            return .reconcile(domain: try optionalName(domain, "domain"))
        case .notify:
            return .notify(domain: try name(domain, "domain"), event: try name(event, "event"))
        }
    }

    private func refuseUnused() throws(ControlRequestError) {
        let used: Set<String> = switch command {
        case .status, .reconcile, .rotate: ["domain"]
        case .history: ["domain", "limit", "before"]
        case .revert: ["domain", "snapshot"]
        case .waitReady: ["domain", "timeoutSeconds"]
        case .notify: ["domain", "event"]
        }
        let given: [(String, Bool)] = [("snapshot", snapshot != nil), ("limit", limit != nil), ("before", before != nil),
                                       ("timeoutSeconds", timeoutSeconds != nil), ("event", event != nil)]
        if let unused = given.first(where: { $0.1 && !used.contains($0.0) }) {
            throw ControlRequestError("'\(command.rawValue)' takes no '\(unused.0)'")
        }
    }

    /// A name the command needs: non-empty, at most `maximumNameBytes`, no
    /// control or format characters (they would reach logs and terminals).
    private func name(_ value: String?, _ key: String) throws(ControlRequestError) -> String {
        guard let value else { throw ControlRequestError("'\(command.rawValue)' needs '\(key)'") }
        guard !value.isEmpty else { throw ControlRequestError("'\(key)' is empty") }
        guard value.utf8.count <= ControlLimits.maximumNameBytes else {
            throw ControlRequestError("'\(key)' is longer than \(ControlLimits.maximumNameBytes) bytes")
        }
        guard !value.unicodeScalars.contains(where: PrintableText.isUnsafe) else {
            throw ControlRequestError("'\(key)' contains control or format characters")
        }
        return value
    }

    /// The same checks, for a name the command may go without.
    private func optionalName(_ value: String?, _ key: String) throws(ControlRequestError) -> String? {
        guard let value else { return nil }
        return try name(value, key)
    }

    private func historyPage() throws(ControlRequestError) -> HistoryPage {
        let maximum = ControlLimits.maximumHistoryPage
        if let limit, !(0...maximum).contains(limit) {
            throw ControlRequestError("'limit' must be 0 to \(maximum) (page with 'before' for more)")
        }
        if let before, before <= 0 { throw ControlRequestError("'before' must be a record id (positive)") }
        return HistoryPage(limit: limit ?? maximum, before: before)
    }

    private func waitTimeout() throws(ControlRequestError) -> Duration? {
        guard let seconds = timeoutSeconds else { return nil }
        // NaN fails both comparisons; JSON has no infinity, but a decoder
        // may round 1e400 to it: refused too.
        guard seconds > 0, seconds <= ControlLimits.maximumWaitSeconds else {
            throw ControlRequestError("'timeoutSeconds' must be more than 0 and at most "
                + "\(Int(ControlLimits.maximumWaitSeconds))")
        }
        return .milliseconds(Int64((seconds * 1000).rounded(.up)))
    }
}
