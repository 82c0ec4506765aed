import Foundation
import GenerationStore
import NIOSSL
import PostgresNIO

/// Where a fleet ledger lives, written as libpq writes it:
/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=MODE]`, or with
/// `?host=/DIRECTORY` for the server's Unix socket in that directory.
/// `sslmode` is `disable`, `prefer` (the default, as in libpq) or `require`.
public struct PostgresLocation: Sendable, CustomStringConvertible {
    /// The text as given, the password replaced by `***`: what messages show.
    public let description: String
    let configuration: PostgresConnection.Configuration

    /// Whether `location` names a PostgreSQL ledger rather than a file.
    public static func names(_ location: String) -> Bool {
        location.hasPrefix("postgres://") || location.hasPrefix("postgresql://")
    }

    public init(_ text: String) throws(StoreError) {
        guard Self.names(text), let components = URLComponents(string: text) else {
            throw .invalidArgument("'\(text)' is not a PostgreSQL URL (postgres://USER@HOST[:PORT]/DATABASE)")
        }
        let query = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") },
                               uniquingKeysWith: { _, last in last })
        guard let user = components.user.flatMap({ $0.removingPercentEncoding }), !user.isEmpty else {
            throw .invalidArgument("'\(text)' names no user: write postgres://USER@HOST/DATABASE")
        }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty else {
            throw .invalidArgument("'\(text)' names no database: write postgres://USER@HOST/DATABASE")
        }
        let password = components.password?.removingPercentEncoding
        let port = components.port ?? 5432
        if let directory = query["host"], directory.hasPrefix("/") {
            configuration = .init(unixSocketPath: "\(directory)/.s.PGSQL.\(port)", username: user,
                                  password: password, database: database)
        } else {
            guard let host = components.host, !host.isEmpty else {
                throw .invalidArgument("'\(text)' names no server: give HOST, or ?host=/SOCKET_DIRECTORY")
            }
            configuration = .init(host: host, port: port, username: user, password: password, database: database,
                                  tls: try Self.tls(query["sslmode"] ?? "prefer"))
        }
        var shown = components
        if shown.password != nil { shown.password = "***" }
        description = shown.string ?? text
    }

    private static func tls(_ mode: String) throws(StoreError) -> PostgresConnection.Configuration.TLS {
        if mode == "disable" { return .disable }
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: .makeClientConfiguration())
        } catch {
            throw .unavailable("cannot set up TLS for the fleet ledger: \(error)")
        }
        switch mode {
        case "prefer": return .prefer(context)
        case "require": return .require(context)
        default: throw .invalidArgument("sslmode '\(mode)' is not one of disable, prefer, require")
        }
    }
}
