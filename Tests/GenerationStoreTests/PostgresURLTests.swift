import GenerationStore
@testable import PostgresGenerationStore
import Testing

/// The fleet ledger URL as read before anything acts on it, and its
/// redaction: each case here was found by the `ledger-url` fuzz target's
/// invariants or while extracting the parser for it. No server needed.
@Suite struct PostgresURLTests {
    /// An unparsable port was taken for the default one, and 70000 went on
    /// to getaddrinfo, which connected to port 4464 (70000 mod 65536).
    @Test(arguments: ["postgres://u@h:70000/db", "postgres://u@h:0/db", "postgres://u@h:99999999999999999999/db"])
    func aPortOutsideOneTo65535IsRefused(_ text: String) {
        #expect(throws: PostgresURL.Refusal(reason: "has a port that is not a number from 1 to 65535")) { try PostgresURL(text) }
    }

    @Test func aPortIsOptional() throws {
        #expect(try PostgresURL("postgres://u@h/db").endpoint == .tcp(address: "h", port: 5432, serverName: nil))
        #expect(try PostgresURL("postgres://u@h:65535/db").endpoint == .tcp(address: "h", port: 65535, serverName: nil))
        #expect(try PostgresURL("postgres://u@[::1]:6/db").endpoint == .tcp(address: "::1", port: 6, serverName: nil))
    }

    /// User and password were decoded twice: a password's literal "%41"
    /// (written %2541) became "A", and the server refused it.
    @Test func everyPartIsDecodedOnce() throws {
        let url = try PostgresURL("postgres://a%2541:p%2541%40@h/d%2541")
        #expect(url.user == "a%41")
        #expect(url.password == .url("p%41@"))
        #expect(url.database == "d%41")
        // Found by the fuzz target: "/" and a combining mark are one
        // Character, and the database lost its first scalar with the "/".
        #expect(try PostgresURL("postgres://u@h/%CC%81db").database == "\u{301}db")
    }

    @Test func parametersAreChecked() throws {
        let url = try PostgresURL("postgres://u@db/x?hostaddr=192.0.2.7&sslmode=verify-ca&sslcert=/c&sslkey=/k")
        #expect(url.endpoint == .tcp(address: "192.0.2.7", port: 5432, serverName: "db"))
        #expect(url.sslMode == .verifyCA && url.certificate == "/c" && url.key == "/k")
        #expect(try PostgresURL("postgres://u@db/x?host=/run/pg").endpoint == .unixSocket(path: "/run/pg/.s.PGSQL.5432"))
        #expect(throws: PostgresURL.Refusal(reason: "has a parameter without a value: 'hostaddr'")) {
            try PostgresURL("postgres://u@db/x?hostaddr")
        }
        #expect(throws: PostgresURL.Refusal.self) { try PostgresURL("postgres://u@db/x?passwordCredential=a/b") }
        #expect(throws: PostgresURL.Refusal.self) { try PostgresURL("postgres://u:p@db/x?passwordCredential=a") }
    }

    /// A "?" in a password someone did not percent-encode ended the search
    /// for the user part, and the refusal showed the password.
    @Test(arguments: [
        ("postgres://u:12?34@h/db", "postgres://u:***@h/db"),
        ("postgres://u:@pa?ss#w@rd@db/genid", "postgres://u:***@db/genid"),
        ("postgres://u:p/w@h/db?sslrootcert=/a@b", "postgres://u:***@h/db?sslrootcert=/a@b"),
        ("postgres://u@h:5432/db?sslrootcert=/a@b", "postgres://u@h:5432/db?sslrootcert=/a@b"),
        ("postgres://u:pw@\u{301}h/db", "postgres://u:***@\u{301}h/db"),
    ])
    func redactionHidesThePasswordAsAParserSeesIt(_ text: String, _ shown: String) {
        #expect(LedgerURLPassword.redacting(text) == shown)
        #expect(LedgerURLPassword.isPresent(in: text) == (text != shown))
    }

    @Test func aRefusalShowsTheURLRedacted() {
        do {
            _ = try PostgresLocation("postgres://u:12?34@h/db")
            Issue.record("accepted")
        } catch {
            #expect(!"\(error)".contains("12?34") && "\(error)".contains("postgres://u:***@h/db"), "\(error)")
        }
    }
}
