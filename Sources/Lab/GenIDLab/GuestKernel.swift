import Foundation

/// A Debian guest kernel installed on the host: the image in /boot and its
/// modules in /lib/modules, both from Debian's linux-image package.
public struct GuestKernel: Sendable, Equatable {
    /// e.g. "6.1.0-56-amd64" or "6.12.117+deb12-amd64".
    public let release: String
    public let imagePath: String
    public let modulesDirectory: String

    /// The series `qemu/setup-host` installs, which `genid-lab kernels`
    /// always lists. Any other installed series boots too (`--kernel 7.3`).
    public static let series = ["6.1", "6.12"]

    /// Finds the newest installed standard-flavour kernel of a series
    /// ("6.1", "6.12", "7.3": any MAJOR.MINOR), or an exact release
    /// ("6.1.0-56-amd64").
    public static func find(_ selector: String, bootDirectory: String = "/boot",
                            modulesRoot: String = "/lib/modules") throws -> GuestKernel {
        let releases = installedReleases(bootDirectory: bootDirectory)
        guard let release = newest(matching: selector, among: releases) else {
            throw LabError.kernelNotInstalled(selector: selector, searched: bootDirectory,
                                              installed: installedSeries(among: releases))
        }
        return GuestKernel(release: release, imagePath: "\(bootDirectory)/vmlinuz-\(release)",
                           modulesDirectory: "\(modulesRoot)/\(release)")
    }

    /// Every release with an image in `bootDirectory` (`vmlinuz-RELEASE`).
    public static func installedReleases(bootDirectory: String = "/boot") -> [String] {
        let images = (try? FileManager.default.contentsOfDirectory(atPath: bootDirectory)) ?? []
        return images.compactMap { name -> String? in
            guard name.hasPrefix("vmlinuz-") else { return nil }
            return String(name.dropFirst("vmlinuz-".count))
        }
    }

    /// The series (MAJOR.MINOR) of the bootable releases among `releases`, oldest first.
    public static func installedSeries(among releases: [String]) -> [String] {
        let series = Set(releases.filter(isStandardFlavour).compactMap(Self.series(of:)))
        return series.sorted { versionKey($0).lexicographicallyPrecedes(versionKey($1)) }
    }

    /// The release a selector picks among installed releases. Only the
    /// standard `-amd64` flavour counts: `-cloud-amd64` lacks CONFIG_VMGENID.
    static func newest(matching selector: String, among releases: [String]) -> String? {
        if releases.contains(selector) { return selector }
        let candidates = releases.filter { isStandardFlavour($0) && series(of: $0) == selector }
        return candidates.max { versionKey($0).lexicographicallyPrecedes(versionKey($1)) }
    }

    /// Whether `text` names a series (MAJOR.MINOR, e.g. "7.3").
    public static func isSeries(_ text: String) -> Bool {
        text.wholeMatch(of: /[0-9]+\.[0-9]+/) != nil
    }

    /// "6.12" of "6.12.117+deb12-amd64", "6.1" of "6.1.0-56-amd64".
    static func series(of release: String) -> String? {
        guard let match = release.prefixMatch(of: /([0-9]+)\.([0-9]+)[.\-+]/) else { return nil }
        return "\(match.1).\(match.2)"
    }

    private static func isStandardFlavour(_ release: String) -> Bool {
        release.hasSuffix("-amd64") && !release.hasSuffix("-cloud-amd64") && !release.hasSuffix("-rt-amd64")
    }

    /// Numeric parts of a release, so that 6.12.117 sorts after 6.12.99.
    private static func versionKey(_ release: String) -> [Int] {
        release.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
    }
}
