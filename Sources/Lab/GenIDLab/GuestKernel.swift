import Foundation

/// A Debian guest kernel installed on the host: the image in /boot and its
/// modules in /lib/modules, both from Debian's linux-image package.
public struct GuestKernel: Sendable, Equatable {
    /// e.g. "6.1.0-56-amd64" or "6.12.117+deb12-amd64".
    public let release: String
    public let imagePath: String
    public let modulesDirectory: String

    /// The kernel series the lab supports, by the names `--kernel` takes.
    public static let series = ["6.1", "6.12"]

    /// Finds the newest installed standard-flavour kernel of a series
    /// ("6.1" or "6.12"), or an exact release ("6.1.0-56-amd64").
    public static func find(_ selector: String, bootDirectory: String = "/boot",
                            modulesRoot: String = "/lib/modules") throws -> GuestKernel {
        let images = (try? FileManager.default.contentsOfDirectory(atPath: bootDirectory)) ?? []
        let releases = images.compactMap { name -> String? in
            guard name.hasPrefix("vmlinuz-") else { return nil }
            return String(name.dropFirst("vmlinuz-".count))
        }
        guard let release = newest(matching: selector, among: releases) else {
            throw LabError.kernelNotInstalled(selector: selector, searched: bootDirectory)
        }
        return GuestKernel(release: release, imagePath: "\(bootDirectory)/vmlinuz-\(release)",
                           modulesDirectory: "\(modulesRoot)/\(release)")
    }

    /// The release a selector picks among installed releases. Only the
    /// standard `-amd64` flavour counts: `-cloud-amd64` lacks CONFIG_VMGENID.
    static func newest(matching selector: String, among releases: [String]) -> String? {
        if releases.contains(selector) { return selector }
        let candidates = releases.filter { release in
            guard release.hasSuffix("-amd64"), !release.hasSuffix("-cloud-amd64"), !release.hasSuffix("-rt-amd64")
            else { return false }
            switch selector {
            case "6.1": return release.hasPrefix("6.1.0-")
            case "6.12": return release.hasPrefix("6.12.") && release.hasSuffix("+deb12-amd64")
            default: return false
            }
        }
        return candidates.max { versionKey($0).lexicographicallyPrecedes(versionKey($1)) }
    }

    /// Numeric parts of a release, so that 6.12.117 sorts after 6.12.99.
    private static func versionKey(_ release: String) -> [Int] {
        release.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
    }
}
