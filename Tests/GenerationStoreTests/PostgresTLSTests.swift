import Foundation
import GenerationStore
import PostgresGenerationStore
import Testing

/// The fleet ledger's TLS against a real server (`PostgresTLSServer`): no
/// plaintext fallback, what each sslmode verifies, client certificates.
@Suite("Fleet ledger over TLS", .enabled(if: PostgresTestServer.available, "no PostgreSQL server (make test starts one)"))
struct PostgresTLSTests {
    /// Connects (creating genid's tables) within a deadline a loaded machine meets.
    static func connect(_ url: String) async throws {
        let store = try PostgresGenerationStore(url: url, timeout: .seconds(60))
        do {
            try await store.check()
        } catch {
            await store.close()
            throw error
        }
        await store.close()
    }

    /// The message `url` is refused with when connecting.
    static func refusal(_ url: String) async -> String? {
        do {
            try await connect(url)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func theDefaultIsTLSAndItConnects() async throws {
        let server = try PostgresTLSServer.shared.get()
        // pg_hba.conf lets genid in only by hostssl: connecting is proof of TLS.
        try await Self.connect(try server.database(owner: "genid"))
        try await Self.connect(try server.database(owner: "genid") + "sslmode=require")
    }

    @Test func aServerWithoutTLSIsRefusedNotUsedInPlaintext() async throws {
        let directory = try TemporaryDirectory()
        defer {
            try? PostgresTestServer.stop(directory.path + "/pg")
            directory.remove()
        }
        let hba = directory.file("pg_hba.conf")
        try "local all all trust\nhost all all 127.0.0.1/32 trust\n".write(toFile: hba, atomically: true, encoding: .utf8)
        let port = try PostgresTLSServer.freePort()
        try PostgresTestServer.start(directory.path + "/pg", "--tcp", String(port), "--hba", hba)
        for url in ["postgres://genid@127.0.0.1:\(port)/genid", "postgres://genid@127.0.0.1:\(port)/genid?sslmode=require"] {
            let refused = await Self.refusal(url)
            #expect(refused?.contains("does not offer TLS") == true, "\(url): \(refused ?? "connected in plaintext")")
        }
        // disable is still there, for whoever chooses it knowingly.
        try await Self.connect("postgres://genid@127.0.0.1:\(port)/genid?sslmode=disable")
    }

    @Test func verifyFullChecksTheCAAndTheName() async throws {
        let server = try PostgresTLSServer.shared.get()
        try await Self.connect(try server.database(owner: "genid") + "sslmode=verify-full&sslrootcert=\(server.ca)")
        try await Self.connect(try server.database(owner: "genid", host: "127.0.0.1")
                               + "sslmode=verify-full&sslrootcert=\(server.ca)")
        for mode in ["verify-full", "verify-ca"] {
            let refused = await Self.refusal(try server.database(owner: "genid")
                                             + "sslmode=\(mode)&sslrootcert=\(server.otherCA)")
            #expect(refused?.contains("TLS handshake failed") == true, "\(mode): \(refused ?? "connected")")
        }
        // The system's CAs do not know the test CA.
        let unknown = await Self.refusal(try server.database(owner: "genid") + "sslmode=verify-full")
        #expect(unknown?.contains("TLS handshake failed") == true, "\(unknown ?? "connected")")
        // As libpq: require with sslrootcert verifies the chain.
        let required = await Self.refusal(try server.database(owner: "genid") + "sslrootcert=\(server.otherCA)")
        #expect(required?.contains("TLS handshake failed") == true, "\(required ?? "connected")")
    }

    @Test func aCertificateForAnotherNameIsRefusedUnderVerifyFull() async throws {
        let shared = try PostgresTLSServer.shared.get()
        let directory = try TemporaryDirectory()
        defer {
            try? PostgresTestServer.stop(directory.path + "/pg")
            directory.remove()
        }
        let hba = directory.file("pg_hba.conf")
        try "local all all trust\nhostssl all genid 127.0.0.1/32 trust\n".write(toFile: hba, atomically: true,
                                                                               encoding: .utf8)
        let port = try PostgresTLSServer.freePort()
        try PostgresTestServer.start(directory.path + "/pg", "--tcp", String(port), "--ssl",
                                     shared.byNameCertificates, "--hba", hba)
        let base = "postgres://genid@%@:\(port)/genid?sslrootcert=\(shared.ca)"
        try await Self.connect(String(format: base, "localhost") + "&sslmode=verify-full")
        // hostaddr connects to the same server; the certificate must name the URL's host.
        let elsewhere = String(format: base, "ledger.example") + "&hostaddr=127.0.0.1"
        let refused = await Self.refusal(elsewhere + "&sslmode=verify-full")
        #expect(refused?.contains("TLS handshake failed") == true, "\(refused ?? "connected")")
        // verify-ca checks the chain only, as it says.
        try await Self.connect(elsewhere + "&sslmode=verify-ca")
    }

    @Test func aClientCertificateLogsIn() async throws {
        let server = try PostgresTLSServer.shared.get()
        let url = try server.database(owner: "certuser") + "sslmode=verify-full&sslrootcert=\(server.ca)"
        try await Self.connect(url + "&sslcert=\(server.clientCertificate)&sslkey=\(server.clientKey)")
        let refused = await Self.refusal(url)
        #expect(refused?.contains("client certificate") == true, "\(refused ?? "connected without a certificate")")
        #expect(throws: StoreError.self) { try PostgresGenerationStore(url: url + "&sslcert=\(server.clientCertificate)") }
    }
}
