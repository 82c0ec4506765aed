import Foundation
import Testing
@testable import GenerationStore
import SQLiteGenerationStore

@Suite("Where the ledger lives")
struct LocationTests {
    @Test func aMissingDirectoryIsCreatedPrivate() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("state/genid/ledger.sqlite")
        let ledger = try SQLiteGenerationStore(path: path)
        _ = try await ledger.issueFresh(for: VMIdentity(name: "web"), event: "boot")
        #expect(ledger.location == path)
        for created in [directory.file("state"), directory.file("state/genid")] {
            let attributes = try FileManager.default.attributesOfItem(atPath: created)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o700, "\(created)")
        }
        #expect(FileManager.default.fileExists(atPath: path))
    }

    @Test func aDirectoryThatCannotBeCreatedIsAClearError() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let file = directory.file("not-a-directory")
        #expect(FileManager.default.createFile(atPath: file, contents: Data("x".utf8)))

        // The parent is a regular file.
        let direct = #expect(throws: StoreError.self) {
            try SQLiteGenerationStore(path: file + "/ledger.sqlite")
        }
        #expect(direct?.description.contains("cannot create the ledger directory \(file): it exists and is not a directory") == true)
        #expect(direct?.description.contains("GENID_LEDGER") == true)

        // Missing directories below a regular file.
        let nested = #expect(throws: StoreError.self) {
            try SQLiteGenerationStore(path: file + "/genid/state/ledger.sqlite")
        }
        #expect(nested == direct, "the error names the file in the way")
    }

    @Test func aFileThatIsNotALedgerIsAClearError() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("ledger.sqlite")
        #expect(FileManager.default.createFile(
            atPath: path, contents: Data(String(repeating: "not a database\n", count: 100).utf8)))
        let error = #expect(throws: StoreError.self) { try SQLiteGenerationStore(path: path) }
        guard case let .unavailable(message)? = error else {
            Issue.record("unexpected \(String(describing: error))")
            return
        }
        #expect(message.contains(path))
        #expect(message.contains("not an SQLite database"))
    }

    @Test func defaultPathPrefersTheEnvironmentThenRootThenXDG() {
        let home = "/home/alice"
        #expect(LedgerLocation.defaultLocation(
            environment: ["GENID_LEDGER": "/srv/l.sqlite", "XDG_STATE_HOME": "/x"], isRoot: true, home: home)
            == "/srv/l.sqlite")
        #expect(LedgerLocation.defaultLocation(environment: ["XDG_STATE_HOME": "/x"], isRoot: true, home: home)
            == "/var/lib/genid/ledger.sqlite")
        #expect(LedgerLocation.defaultLocation(environment: ["XDG_STATE_HOME": "/x/state"], isRoot: false, home: home)
            == "/x/state/genid/ledger.sqlite")
        #expect(LedgerLocation.defaultLocation(environment: ["XDG_STATE_HOME": "/x/state/"], isRoot: false, home: home)
            == "/x/state/genid/ledger.sqlite")
        // Relative XDG values are ignored, as the spec requires; empty GENID_LEDGER too.
        #expect(LedgerLocation.defaultLocation(
            environment: ["XDG_STATE_HOME": "state", "GENID_LEDGER": ""], isRoot: false, home: home)
            == "/home/alice/.local/state/genid/ledger.sqlite")
        #expect(LedgerLocation.default.hasSuffix("ledger.sqlite"))
    }
}
