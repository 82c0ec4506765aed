import GenerationStore
import NIOSSL
import PostgresNIO

/// Turns what PostgresNIO throws into a `StoreError` a person can act on.
/// PSQLError's own description hides the server's message (it may hold
/// data); the server's message and SQLSTATE are safe to show here.
enum PostgresErrors {
    /// SQLSTATE of a UNIQUE violation.
    static let uniqueViolation = "23505"

    static func sqlState(_ error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.sqlState]
    }

    /// A statement the server refused; the connection itself is fine.
    static func isStatementError(_ error: any Error) -> Bool {
        (error as? PSQLError)?.code == .server && sqlState(error).map { !$0.hasPrefix("57") && !$0.hasPrefix("08") } == true
    }

    /// An error of the TLS layer: a certificate refused, a handshake broken.
    static func isTLSFailure(_ error: any Error) -> Bool {
        error is NIOSSLError || error is NIOSSLExtraError || error is BoringSSLError
    }

    static func translate(_ error: any Error, location: PostgresLocation, action: String,
                          timeout: Duration) -> StoreError {
        let prefix = "fleet ledger \(location): \(action) failed"
        if error is DeadlineExceeded {
            return .unavailable("\(prefix): no answer within \(timeout) (is the server up and reachable?); "
                + "genid gives no value it cannot record, and retries at the next event")
        }
        if let newer = error as? PostgresSchema.NewerSchema {
            return .unavailable("\(prefix): its tables are version \(newer.found), newer than this genid's "
                + "\(PostgresSchema.version); use a genid at least as new as the fleet's newest")
        }
        guard let error = error as? PSQLError else { return .unavailable("\(prefix): \(error)") }
        switch error.code {
        case .server:
            let message = error.serverInfo?[.message] ?? "unknown server error"
            let state = sqlState(error) ?? "?????"
            let hint: String
            switch state {
            case "28P01", "28000":
                hint = "check the user, the password (passwordFile, passwordCredential or the URL), "
                    + "the client certificate (sslcert, sslkey) and pg_hba.conf"
            case "3D000": hint = "create the database first (createdb), or fix the URL"
            case "42501": hint = "the user may not create or write genid's tables; grant it, or create them as an owner"
            case _ where state.hasPrefix("57"), _ where state.hasPrefix("08"):
                hint = "the server is shutting down or the connection broke; genid reconnects at the next operation"
            default: hint = "SQLSTATE \(state)"
            }
            return .unavailable("\(prefix): \(message) (\(hint))")
        case .connectionError where error.underlying.map(isTLSFailure) == true:
            return .unavailable("\(prefix): the TLS handshake failed (\(error.underlying.map { "\($0)" } ?? "")); "
                + "check sslmode, sslrootcert and that the server's certificate names the URL's host")
        case .connectionError, .serverClosedConnection, .uncleanShutdown, .clientClosedConnection:
            let cause = error.underlying.map { " (\($0))" } ?? ""
            return .unavailable("\(prefix): cannot reach the server\(cause); is PostgreSQL running and reachable? "
                + "genid gives no value it cannot record, and reconnects at the next operation")
        case .sslUnsupported:
            return .unavailable("\(prefix): the server does not offer TLS, and genid never falls back to "
                + "plaintext; turn ssl on in the server, or set sslmode=disable knowingly (a trusted network)")
        default:
            return .unavailable("\(prefix): \(error.code)")
        }
    }
}
