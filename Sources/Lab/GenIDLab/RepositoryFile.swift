import Foundation

/// A file of this checkout (`Tests/postgres-server`, `qemu/lab-fleet`,
/// `qemu/hooks/genid`), found above the running executable
/// (`.build/<configuration>/genid-lab` or the test runner); nil when the
/// executable does not run from a checkout.
func repositoryFile(_ relativePath: String) -> String? {
    var directory = runningExecutable.deletingLastPathComponent()
    for _ in 0..<6 {
        let candidate = directory.appendingPathComponent(relativePath).path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        directory.deleteLastPathComponent()
    }
    return nil
}
