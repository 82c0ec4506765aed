import Foundation

/// A Debian guest kernel: the image in `/boot` and its modules in
/// `/lib/modules` of a system root, both from Debian's linux-image package.
/// The roots searched are the host's own (`/`) and the newer stack's
/// (`qemu/newer-stack`, which unpacks Debian 13's 7.x kernel there without
/// touching the host's kernels).
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
    public static func find(_ selector: String, roots: [String] = searchRoots) throws -> GuestKernel {
        let found = installed(roots: roots)
        let releases = found.map(\.release)
        guard let release = newest(matching: selector, among: releases),
              let kernel = found.first(where: { $0.release == release }) else {
            throw LabError.kernelNotInstalled(selector: selector,
                                              searched: roots.map { path($0, "boot") }.joined(separator: ", "),
                                              installed: installedSeries(among: releases))
        }
        return kernel
    }

    /// The system roots searched for kernels: `GENID_LAB_KERNEL_ROOTS`
    /// (colon-separated) or the host's own and the newer stack's.
    public static var searchRoots: [String] {
        if let roots = ProcessInfo.processInfo.environment["GENID_LAB_KERNEL_ROOTS"] {
            return roots.split(separator: ":").map(String.init)
        }
        return ["/", ProcessInfo.processInfo.environment["GENID_NEWER_ROOT"] ?? newerStackRoot]
    }

    /// Where `qemu/newer-stack` keeps its Debian 13 root by default.
    public static let newerStackRoot = "/var/cache/genid/newer-stack/root"

    /// Every release with an image in a root's `boot` (`vmlinuz-RELEASE`);
    /// where two roots hold the same release, the first root's.
    public static func installed(roots: [String] = searchRoots) -> [GuestKernel] {
        var seen = Set<String>()
        return roots.flatMap { root -> [GuestKernel] in
            let boot = path(root, "boot")
            let images = (try? FileManager.default.contentsOfDirectory(atPath: boot)) ?? []
            return images.sorted().compactMap { name -> GuestKernel? in
                guard name.hasPrefix("vmlinuz-") else { return nil }
                let release = String(name.dropFirst("vmlinuz-".count))
                guard seen.insert(release).inserted else { return nil }
                return GuestKernel(release: release, imagePath: "\(boot)/\(name)",
                                   modulesDirectory: path(root, "lib/modules/\(release)"))
            }
        }
    }

    /// Every installed release (see `installed(roots:)`).
    public static func installedReleases(roots: [String] = searchRoots) -> [String] {
        installed(roots: roots).map(\.release)
    }

    private static func path(_ root: String, _ relative: String) -> String {
        root == "/" ? "/\(relative)" : "\(root.hasSuffix("/") ? String(root.dropLast()) : root)/\(relative)"
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
    public static func series(of release: String) -> String? {
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
