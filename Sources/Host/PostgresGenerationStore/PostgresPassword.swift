import Foundation
import GenerationStore

/// Where the fleet ledger's password comes from: a file of its own
/// (`passwordFile=FILE`), a systemd credential (`passwordCredential=NAME`,
/// the file `$CREDENTIALS_DIRECTORY/NAME` that `LoadCredential=` makes), or
/// the URL itself, which `ps`, shell histories and the configuration file
/// show: that one still works, with a warning.
struct PostgresPassword {
    var password: String?
    /// What genidd logs once at start: where the password is exposed.
    var warnings: [String] = []

    init(_ source: PostgresURL.PasswordSource?,
         environment: [String: String] = ProcessInfo.processInfo.environment) throws(StoreError) {
        switch source {
        case nil: break
        case .url(let url):
            password = url
            warnings.append("the fleet ledger's password is in its URL, where ps, logs of the command line and "
                + "the configuration file show it; use passwordFile=FILE or passwordCredential=NAME instead")
        case .file(let file):
            password = try Self.read(file, "passwordFile")
            warnings += Self.exposure(of: file)
        case .credential(let credential):
            // PostgresURL checked the name: no "/", not empty.
            guard let directory = environment["CREDENTIALS_DIRECTORY"], !directory.isEmpty else {
                throw .invalidArgument("passwordCredential=\(credential) needs $CREDENTIALS_DIRECTORY, which "
                    + "systemd sets for a unit with LoadCredential=\(credential):FILE")
            }
            let path = directory + "/" + credential
            password = try Self.read(path, "passwordCredential")
            warnings += Self.exposure(of: path)
        }
    }

    /// The file's text without its line end: `echo secret > FILE` works.
    private static func read(_ path: String, _ parameter: String) throws(StoreError) -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .invalidArgument("\(parameter): cannot read '\(path)'")
        }
        var text = String(decoding: data, as: UTF8.self)
        while text.hasSuffix("\n") || text.hasSuffix("\r") { text.removeLast() }
        guard !text.isEmpty else { throw .invalidArgument("\(parameter): '\(path)' is empty") }
        return text
    }

    /// A warning if group or others may read the file (a warning, not a
    /// refusal: the password is already out, and a fleet of hosts that stop
    /// guarding their VMs at boot is the worse outcome).
    static func exposure(of path: String) -> [String] {
        var status = stat()
        guard stat(path, &status) == 0, status.st_mode & 0o044 != 0 else { return [] }
        return ["the ledger password file \(path) is mode \(String(status.st_mode & 0o7777, radix: 8)): "
            + "group or others may read it; chmod 0600 it"]
    }
}
