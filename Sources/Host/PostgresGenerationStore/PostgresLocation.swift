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
/// TLS, as in libpq: the socket's file permissions guard it. The text is
/// read and checked by `PostgresURL`; this reads the files it names.
public struct PostgresLocation: Sendable, CustomStringConvertible {
    /// The text as given, the password replaced by `***`: what messages show.
    public let description: String
    /// Where this location exposes its password; genidd logs them at start.
    public let warnings: [String]
    let configuration: PostgresConnection.Configuration

    /// Whether `location` names a PostgreSQL ledger rather than a file.
    public static func names(_ location: String) -> Bool { PostgresURL.names(location) }

    public init(_ text: String) throws(StoreError) {
        let shown = LedgerURLPassword.redacting(text)
        let url: PostgresURL
        do {
            url = try PostgresURL(text)
        } catch {
            throw .invalidArgument("'\(shown)' \(error.reason)")
        }
        let secret = try PostgresPassword(url.password)
        let tls = try PostgresTLS.make(mode: url.sslMode, files: .init(rootCertificate: url.rootCertificate,
                                                                       certificate: url.certificate, key: url.key))
        switch url.endpoint {
        case .unixSocket(let path):
            configuration = .init(unixSocketPath: path, username: url.user, password: secret.password,
                                  database: url.database)
        case let .tcp(address, port, serverName):
            var tcp = PostgresConnection.Configuration(host: address, port: port, username: url.user,
                                                       password: secret.password, database: url.database, tls: tls)
            if let serverName { tcp.options.tlsServerName = serverName }
            configuration = tcp
        }
        description = shown
        warnings = secret.warnings
    }
}
