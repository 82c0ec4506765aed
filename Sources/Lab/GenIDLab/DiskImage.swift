import Foundation

/// Disk images a user brings: never written, only used as the backing
/// image of a qcow2 overlay.
enum DiskImage {
    /// Creates a qcow2 overlay at `path` on `backing` (its format as
    /// `qemu-img info` reads it, so a raw image is never probed as qcow2).
    static func createOverlay(at path: String, on backing: String) throws {
        let absolute = URL(fileURLWithPath: backing).standardizedFileURL.path
        guard FileManager.default.isReadableFile(atPath: absolute) else {
            throw LabError.io(path: absolute, message: "cannot read the disk image")
        }
        try Subprocess.check(["qemu-img", "create", "-q", "-f", "qcow2", "-b", absolute, "-F", try format(of: absolute), path])
    }

    static func format(of path: String) throws -> String {
        struct Info: Decodable { let format: String }
        let data = try Subprocess.checkData(["qemu-img", "info", "--output=json", "-U", path])
        do {
            return try JSONDecoder().decode(Info.self, from: data).format
        } catch {
            throw LabError.io(path: path, message: "qemu-img info did not name the image's format")
        }
    }
}
