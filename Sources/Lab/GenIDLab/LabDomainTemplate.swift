import Foundation
import Libvirt

/// `qemu/libvirt-domain.xml`, the lab's libvirt domain, with its
/// `@NAME@`-style placeholders.
public struct LabDomainTemplate: Sendable {
    public let path: String
    public let text: String

    /// Placeholders the template may use; `fill` needs a value for each one it has.
    public static let placeholders = [
        "NAME", "DESCRIPTION", "KERNEL_RELEASE", "MEMORY_MIB", "KERNEL", "INITRD", "CMDLINE", "EMULATOR",
        "DISK", "CONSOLE_LOG", "AGENT_CHANNEL", "GENIDD_CHANNEL",
    ]

    /// Where the template is looked for: $GENID_LAB_DOMAIN_TEMPLATE, the
    /// repository this source file belongs to, the current directory.
    public static var searchPaths: [String] {
        var paths: [String] = []
        if let explicit = ProcessInfo.processInfo.environment["GENID_LAB_DOMAIN_TEMPLATE"] { paths.append(explicit) }
        let repository = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path  // Sources/Lab/GenIDLab/<file>
        paths.append("\(repository)/qemu/libvirt-domain.xml")
        paths.append(FileManager.default.currentDirectoryPath + "/qemu/libvirt-domain.xml")
        return paths
    }

    public static func load(from path: String? = nil) throws -> LabDomainTemplate {
        let candidates = path.map { [$0] } ?? searchPaths
        for candidate in candidates {
            if let text = try? String(contentsOfFile: candidate, encoding: .utf8) {
                return LabDomainTemplate(path: candidate, text: text)
            }
        }
        throw LibvirtLabError.templateMissing(searched: candidates)
    }

    public init(path: String, text: String) {
        self.path = path
        self.text = text
    }

    /// The template with every placeholder replaced by its XML-escaped value.
    /// Unknown placeholders in `values`, and placeholders left without a
    /// value, are errors.
    public func fill(_ values: [String: String]) throws -> String {
        if let unknown = values.keys.first(where: { !LabDomainTemplate.placeholders.contains($0) }) {
            throw LibvirtLabError.templateInvalid(path: path, message: "unknown placeholder @\(unknown)@")
        }
        var xml = text
        for (key, value) in values {
            xml = xml.replacingOccurrences(of: "@\(key)@", with: xmlEscaped(value))
        }
        if let range = xml.range(of: "@[A-Z_]+@", options: .regularExpression) {
            throw LibvirtLabError.templateInvalid(path: path, message: "no value for \(xml[range])")
        }
        return xml
    }
}
