import Foundation
import GenerationStore

extension DaemonConfiguration {
    /// A warning when the configuration file `path` holds the ledger's
    /// password (in its `ledger` URL) and is not root's own,
    /// mode 0600 or 0640. A warning, not a refusal: the password is out
    /// already, and hosts that stop guarding their VMs at boot over a file
    /// mode would be the worse outcome.
    public static func exposureWarning(ofFile path: String) -> String? {
        var status = stat()
        guard let data = FileManager.default.contents(atPath: path),
              let ledger = (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["ledger"] as? String,
              LedgerURLPassword.isPresent(in: ledger), stat(path, &status) == 0 else { return nil }
        let mode = status.st_mode & 0o7777
        guard status.st_uid != 0 || mode & 0o137 != 0 else { return nil }
        return "\(path) holds the ledger password and is mode \(String(mode, radix: 8)), owner uid \(status.st_uid): "
            + "others may read it; chown root and chmod 0600 it, or move the password to passwordFile= "
            + "or passwordCredential="
    }
}
