import Foundation
import GenerationStore
import PostgresGenerationStore
import Testing

/// The fleet ledger's password outside argv and the URL: from a file, from
/// a systemd credential; and never shown, by the store or by genidd.
@Suite("Fleet ledger password", .enabled(if: PostgresTestServer.available, "no PostgreSQL server (make test starts one)"))
struct PostgresPasswordTests {
    let password = PostgresTLSServer.password

    @Test func thePasswordComesFromAFile() async throws {
        let server = try PostgresTLSServer.shared.get()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let file = directory.file("ledger-password")
        try "\(password)\n".write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o600)
        let url = try server.database(owner: "pwuser") + "sslrootcert=\(server.ca)&sslmode=verify-full"
        let store = try PostgresGenerationStore(url: url + "&passwordFile=\(file)", timeout: .seconds(60))
        #expect(store.warnings.isEmpty, "\(store.warnings)")
        try await store.check()
        await store.close()

        // Readable by others: it still works, and says so once.
        chmod(file, 0o644)
        let exposed = try PostgresGenerationStore(url: url + "&passwordFile=\(file)")
        #expect(exposed.warnings.count == 1 && exposed.warnings[0].contains("\(file) is mode 644"), "\(exposed.warnings)")

        // A wrong password is refused: the file's password is the one used.
        try "wrong\n".write(toFile: file, atomically: true, encoding: .utf8)
        let wrong = try PostgresGenerationStore(url: url + "&passwordFile=\(file)", timeout: .seconds(60))
        await #expect(throws: StoreError.self) { try await wrong.check() }
        await wrong.close()
    }

    @Test func thePasswordComesFromASystemdCredential() async throws {
        let server = try PostgresTLSServer.shared.get()
        let credentials = try TemporaryDirectory()
        defer { credentials.remove() }
        try password.write(toFile: credentials.file("genid-ledger-password"), atomically: true, encoding: .utf8)
        chmod(credentials.file("genid-ledger-password"), 0o400)
        // As systemd's LoadCredential= sets it; only this test reads it.
        setenv("CREDENTIALS_DIRECTORY", credentials.path, 1)
        defer { unsetenv("CREDENTIALS_DIRECTORY") }
        let url = try server.database(owner: "pwuser") + "sslrootcert=\(server.ca)&sslmode=verify-full"
        let store = try PostgresGenerationStore(url: url + "&passwordCredential=genid-ledger-password",
                                                timeout: .seconds(60))
        try await store.check()
        await store.close()
        #expect(throws: StoreError.self) { try PostgresGenerationStore(url: url + "&passwordCredential=../x") }
    }

    @Test func aPasswordInTheURLWorksWithAWarningAndIsNeverShown() async throws {
        let server = try PostgresTLSServer.shared.get()
        let url = try server.database(owner: "pwuser").replacingOccurrences(of: "pwuser@", with: "pwuser:\(password)@")
            + "sslrootcert=\(server.ca)"
        let store = try PostgresGenerationStore(url: url, timeout: .seconds(60))
        #expect(store.warnings.count == 1 && store.warnings[0].contains("password is in its URL"))
        #expect(!store.location.contains(password) && store.location.contains("pwuser:***@"))
        try await store.check()
        await store.close()
        // Messages about a URL that does not parse do not show it either.
        for wrong in ["postgres://pwuser:\(password)@localhost", "postgres://pwuser:\(password)@localhost/x?sslmode=prefer",
                      "postgres://pwuser:\(password)@localhost/x?nonsense=1"] {
            do {
                _ = try PostgresGenerationStore(url: wrong)
                Issue.record("accepted \(wrong)")
            } catch {
                #expect(!"\(error)".contains(password), "\(error)")
            }
        }
    }
}
