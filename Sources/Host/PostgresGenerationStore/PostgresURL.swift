import Foundation

/// A fleet ledger URL read and checked, before anything acts on it (no file
/// read, no TLS context, no address resolved): all of `PostgresLocation`
/// that the text reaches, kept free of PostgresNIO so that the `ledger-url`
/// fuzz target runs exactly this. Each part is percent-decoded once, as
/// libpq does.
struct PostgresURL: Equatable {
    enum Endpoint: Equatable {
        /// `?host=/DIRECTORY`: the server's socket file in that directory.
        case unixSocket(path: String)
        /// `address` is where to connect (`hostaddr`, else HOST); `serverName`
        /// the name the certificate must hold when that is not `address`
        /// (HOST, unless HOST is an IP address, which is matched against the
        /// peer's address instead).
        case tcp(address: String, port: Int, serverName: String?)
    }

    /// Where the password comes from (see `PostgresPassword`): at most one.
    enum PasswordSource: Equatable {
        case url(String)
        case file(String)
        case credential(String)
    }

    /// Why the text is refused, said of the URL ("names no user"). It never
    /// quotes the text whole: the caller shows it redacted before the
    /// reason (`LedgerURLPassword`). Becomes a `StoreError`.
    struct Refusal: Error, Equatable {
        var reason: String
    }

    static let parameters = ["host", "hostaddr", "sslmode", "sslrootcert", "sslcert", "sslkey",
                             "passwordFile", "passwordCredential"]
    static let defaultPort = 5432

    var user: String
    var database: String
    var endpoint: Endpoint
    var password: PasswordSource?
    var sslMode: SSLMode
    var rootCertificate: String?
    var certificate: String?
    var key: String?

    /// Whether `location` names a PostgreSQL ledger rather than a file.
    static func names(_ location: String) -> Bool {
        location.hasPrefix("postgres://") || location.hasPrefix("postgresql://")
    }

    init(_ text: String) throws(Refusal) {
        guard Self.names(text), let components = URLComponents(string: text) else {
            throw Refusal(reason: "is not a PostgreSQL URL (postgres://USER@HOST[:PORT]/DATABASE)")
        }
        let query = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") },
                               uniquingKeysWith: { _, last in last })
        if let unknown = query.keys.sorted().first(where: { !Self.parameters.contains($0) }) {
            throw Refusal(reason: "has an unknown parameter '\(unknown)'; known: " + Self.parameters.joined(separator: ", "))
        }
        // An empty hostaddr would connect nowhere, an empty file name read nothing.
        if let empty = query.keys.sorted().first(where: { query[$0]!.isEmpty }) {
            throw Refusal(reason: "has a parameter without a value: '\(empty)'")
        }
        // `user`, `password` and `path` are decoded already: decoding again
        // would turn a password's literal "%41" into "A".
        guard let user = components.user, !user.isEmpty else {
            throw Refusal(reason: "names no user: write postgres://USER@HOST/DATABASE")
        }
        // "/", then the name as decoded. Scalars: "/" and a combining mark
        // after it are one Character, and dropFirst() dropped both.
        let database = String(components.path.unicodeScalars.dropFirst())
        guard !database.isEmpty else {
            throw Refusal(reason: "names no database: write postgres://USER@HOST/DATABASE")
        }
        // An unparsable port is not the default one, and getaddrinfo wraps
        // one past 65535 (70000 connects to 4464).
        let port = components.port ?? Self.defaultPort
        guard components.rangeOfPort == nil || (1...65535).contains(port) && components.port != nil else {
            throw Refusal(reason: "has a port that is not a number from 1 to 65535")
        }
        let sources = [components.password.map(PasswordSource.url), query["passwordFile"].map(PasswordSource.file),
                       query["passwordCredential"].map(PasswordSource.credential)].compactMap { $0 }
        guard sources.count <= 1 else {
            throw Refusal(reason: "gives the ledger password more than one way: give it in the URL, passwordFile= "
                + "or passwordCredential=")
        }
        if case .credential(let name) = sources.first, name.isEmpty || name.contains("/") {
            throw Refusal(reason: "has passwordCredential '\(name)', which is not a credential name")
        }
        let mode = try SSLMode.parse(query["sslmode"] ?? SSLMode.require.rawValue)
        switch (query["sslcert"], query["sslkey"]) {
        case (nil, nil), (.some, .some): break
        default: throw Refusal(reason: "has one of sslcert and sslkey: they go together, give both or neither")
        }
        if let directory = query["host"], directory.hasPrefix("/") {
            endpoint = .unixSocket(path: "\(directory)/.s.PGSQL.\(port)")
        } else {
            guard var host = components.host, !host.isEmpty else {
                throw Refusal(reason: "names no server: give HOST, or ?host=/SOCKET_DIRECTORY")
            }
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }  // IPv6
            let address = query["hostaddr"] ?? host
            endpoint = .tcp(address: address, port: port,
                            serverName: query["hostaddr"] == nil || Self.isIPAddress(host) ? nil : host)
        }
        self.user = user
        self.database = database
        password = sources.first
        sslMode = mode
        rootCertificate = query["sslrootcert"]
        certificate = query["sslcert"]
        key = query["sslkey"]
    }

    private static func isIPAddress(_ text: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }
}

/// libpq's `sslmode`, less `prefer` and `allow` (see `PostgresTLS`).
enum SSLMode: String, CaseIterable {
    case disable
    case require
    case verifyCA = "verify-ca"
    case verifyFull = "verify-full"

    static func parse(_ text: String) throws(PostgresURL.Refusal) -> SSLMode {
        if let mode = SSLMode(rawValue: text) { return mode }
        if text == "prefer" || text == "allow" {
            throw PostgresURL.Refusal(reason: "has sslmode '\(text)', which is refused: it falls back to plaintext "
                + "when the server (or anyone in between) declines TLS; use require, verify-ca or verify-full (or "
                + "disable, knowingly)")
        }
        throw PostgresURL.Refusal(reason: "has sslmode '\(text)', which is not one of "
            + allCases.map(\.rawValue).joined(separator: ", "))
    }
}
