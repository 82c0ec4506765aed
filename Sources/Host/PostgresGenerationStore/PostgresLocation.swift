import Foundation
import GenerationStore
import PostgresNIO

/// Where a fleet ledger lives, written as libpq writes it:
/// `postgres://USER@HOST[:PORT]/DATABASE[?PARAMETER=VALUE&...]`, or with
/// `?host=/DIRECTORY` for the server's Unix socket in that directory.
///
/// Parameters: `sslmode` (`require`, the default over TCP; `verify-ca`,
/// `verify-full`, `disable`: see `PostgresTLS`), `sslrootcert`, `sslcert`,
/// `sslkey`, `hostaddr` (the address to connect to; HOST is then only the
/// name the certificate must hold, as in libpq), `passwordFile` and
/// `passwordCredential` (see `PostgresPassword`). A Unix socket never uses
/// TLS, as in libpq: the socket's file permissions guard it.
public struct PostgresLocation: Sendable, CustomStringConvertible {
    /// The text as given, the password replaced by `***`: what messages show.
    public let description: String
    /// Where this location exposes its password; genidd logs them at start.
    public let warnings: [String]
    let configuration: PostgresConnection.Configuration

    static let parameters = ["host", "hostaddr", "sslmode", "sslrootcert", "sslcert", "sslkey",
                             "passwordFile", "passwordCredential"]

    /// Whether `location` names a PostgreSQL ledger rather than a file.
    public static func names(_ location: String) -> Bool {
        location.hasPrefix("postgres://") || location.hasPrefix("postgresql://")
    }

    public init(_ text: String) throws(StoreError) {
        let shown = LedgerURLPassword.redacting(text)
        guard Self.names(text), let components = URLComponents(string: text) else {
            throw .invalidArgument("'\(shown)' is not a PostgreSQL URL (postgres://USER@HOST[:PORT]/DATABASE)")
        }
        let query = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") },
                               uniquingKeysWith: { _, last in last })
        if let unknown = query.keys.sorted().first(where: { !Self.parameters.contains($0) }) {
            throw .invalidArgument("'\(shown)': unknown parameter '\(unknown)'; known: "
                + Self.parameters.joined(separator: ", "))
        }
        guard let user = components.user.flatMap({ $0.removingPercentEncoding }), !user.isEmpty else {
            throw .invalidArgument("'\(shown)' names no user: write postgres://USER@HOST/DATABASE")
        }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty else {
            throw .invalidArgument("'\(shown)' names no database: write postgres://USER@HOST/DATABASE")
        }
        let secret = try PostgresPassword(url: components.password.map { $0.removingPercentEncoding ?? $0 },
                                          file: query["passwordFile"], credential: query["passwordCredential"])
        let port = components.port ?? 5432
        let tls = try PostgresTLS.make(mode: query["sslmode"] ?? "require",
                                       files: .init(rootCertificate: query["sslrootcert"],
                                                    certificate: query["sslcert"], key: query["sslkey"]))
        if let directory = query["host"], directory.hasPrefix("/") {
            configuration = .init(unixSocketPath: "\(directory)/.s.PGSQL.\(port)", username: user,
                                  password: secret.password, database: database)
        } else {
            guard let host = components.host, !host.isEmpty else {
                throw .invalidArgument("'\(shown)' names no server: give HOST, or ?host=/SOCKET_DIRECTORY")
            }
            var tcp = PostgresConnection.Configuration(host: query["hostaddr"] ?? host, port: port, username: user,
                                                       password: secret.password, database: database, tls: tls)
            // The certificate must name HOST, wherever hostaddr connects (an
            // IP address is matched against the peer's address instead).
            if query["hostaddr"] != nil, !Self.isIPAddress(host) { tcp.options.tlsServerName = host }
            configuration = tcp
        }
        description = shown
        warnings = secret.warnings
    }

    private static func isIPAddress(_ text: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }
}
