import Foundation

/// A private PostgreSQL server on 127.0.0.1 with TLS, for the tests of the
/// fleet ledger's TLS and secrets; one per test process, beside the shared
/// server (so `Tests/with-postgres` stops it), started at first use.
///
/// Its certificates come from a CA made here with openssl; so do a client
/// certificate and a second CA the server's certificate does not chain to.
/// pg_hba.conf has one rule per way of logging in the tests check:
/// `genid` by TLS alone, `pwuser` by password (`password`), `certuser` by a
/// client certificate (clientcert=verify-full), and nothing without TLS.
struct PostgresTLSServer: Sendable {
    let directory: String
    let port: Int
    var certificates: String { directory + "/certs" }
    var ca: String { certificates + "/root.crt" }
    var otherCA: String { certificates + "/other-ca.crt" }
    var clientCertificate: String { certificates + "/certuser.crt" }
    var clientKey: String { certificates + "/certuser.key" }
    /// server.crt and server.key of a certificate naming only DNS:localhost.
    var byNameCertificates: String { certificates + "/by-name" }
    static let password = "pw-Zq8-never-shown"

    static let shared: Result<PostgresTLSServer, any Error> = Result {
        guard let server = PostgresTestServer.directory else {
            throw PostgresTestServer.Failed(description: "no PostgreSQL server (make test starts one)")
        }
        return try PostgresTLSServer(directory: (server as NSString).deletingLastPathComponent + "/tls")
    }

    private init(directory: String) throws {
        self.directory = directory
        port = try Self.freePort()
        try FileManager.default.createDirectory(atPath: directory + "/certs", withIntermediateDirectories: true)
        try Self.makeCertificates(in: directory + "/certs")
        let hba = directory + "/pg_hba.conf"
        try """
            local all all trust
            hostssl all genid 127.0.0.1/32 trust
            hostssl all pwuser 127.0.0.1/32 scram-sha-256
            hostssl all certuser 127.0.0.1/32 trust clientcert=verify-full

            """.write(toFile: hba, atomically: true, encoding: .utf8)
        try PostgresTestServer.start(directory + "/server", "--tcp", String(port), "--ssl", directory + "/certs",
                                     "--hba", hba)
        try sql("CREATE ROLE pwuser LOGIN PASSWORD '\(Self.password)'; CREATE ROLE certuser LOGIN")
    }

    /// A new database owned by `user`; a URL for it over TCP (no sslmode:
    /// the caller adds its parameters after `?`).
    func database(owner user: String, host: String = "localhost") throws -> String {
        let name = "genid_tls_" + UUID().uuidString.prefix(8).lowercased()
        try sql("CREATE DATABASE \(name) OWNER \(user)")
        return "postgres://\(user)@\(host):\(port)/\(name)?"
    }

    func sql(_ statements: String) throws {
        try PostgresTestServer.run("/usr/bin/psql", "-h", directory + "/server", "-p", String(port), "-U", "genid",
                                   "-d", "genid", "-v", "ON_ERROR_STOP=1", "-qc", statements)
    }

    /// A CA, a server certificate for localhost and 127.0.0.1 signed by it,
    /// a client certificate for `certuser`, and another CA.
    static func makeCertificates(in directory: String) throws {
        let script = """
            set -e
            cd "$1"
            key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
            ca() {
              key "$1.key"
              openssl req -x509 -new -key "$1.key" -out "$1.crt" -days 2 -subj "/CN=$2" \\
                -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
            }
            signed() {  # NAME CN EXTENSIONS
              key "$1.key"
              openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$2"
              printf '%s\\n' "$3" > "$1.ext"
              openssl x509 -req -in "$1.csr" -CA root.crt -CAkey root.key -CAcreateserial -days 2 \\
                -extfile "$1.ext" -out "$1.crt" 2>/dev/null
            }
            ca root "genid test CA"
            ca other-ca "another CA"
            signed server localhost "subjectAltName=DNS:localhost,IP:127.0.0.1"
            signed certuser certuser "extendedKeyUsage=clientAuth"
            # NIOSSL's verify-full also takes an IP entry that matches the peer's
            # address, whatever name was asked: a certificate with none, for
            # the test of a wrong name.
            signed server-by-name localhost "subjectAltName=DNS:localhost"
            mkdir by-name && mv server-by-name.crt by-name/server.crt && mv server-by-name.key by-name/server.key
            """
        try PostgresTestServer.run("/bin/bash", "-c", script, "bash", directory)
    }

    /// A TCP port nobody listens on now (the kernel's choice).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard fd >= 0, bound else { throw PostgresTestServer.Failed(description: "no free TCP port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
