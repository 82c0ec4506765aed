import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Reads and sets `<genid>` in libvirt domain XML (FoundationXML's
/// `XMLDocument`, so the edit is a real tree edit, not a text search).
///
/// `<genid>` is a direct child of `<domain>`: `<genid/>` asks libvirt to
/// generate a value, `<genid>UUID</genid>` fixes it, no element means the
/// domain has no VM Generation ID device.
public enum DomainXML {
    /// What a definition says about `<genid>`.
    public enum GenID: Sendable, Hashable {
        /// No `<genid>` element: the guest has no VM Generation ID.
        case absent
        /// `<genid/>`: libvirt picks the value (it writes it into the definition).
        case generated
        /// `<genid>value</genid>`, lower-cased and trimmed.
        case value(String)

        /// The value, if the definition holds one.
        public var value: String? {
            if case .value(let value) = self { return value }
            return nil
        }
    }

    /// The `<genid>` of a domain definition.
    public static func genID(in xml: String) throws(LibvirtError) -> GenID {
        try genID(of: try domain(xml))
    }

    /// The `<genid>` of the domain definition inside a snapshot's XML
    /// (`<domainsnapshot><domain>`).
    public static func genID(inSnapshot xml: String) throws(LibvirtError) -> GenID {
        let reader = try DomainXMLReader.read(xml, domainPath: ["domainsnapshot", "domain"])
        guard reader.root == "domainsnapshot" else {
            throw invalid("the root element is <\(reader.root)>, not <domainsnapshot>")
        }
        return try genID(of: reader)
    }

    private static func genID(of reader: DomainXMLReader) throws(LibvirtError) -> GenID {
        guard let element = reader.genIDs.first else { return .absent }
        guard reader.genIDs.count == 1 else { throw invalid("the domain XML has \(reader.genIDs.count) <genid> elements") }
        let text = element.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        return text.isEmpty ? .generated : .value(text)
    }

    /// `xml` with its `<genid>` replaced (`.absent` removes it). A new element
    /// goes right after `<uuid>` (or `<name>`), where libvirt writes it.
    /// A `.value` must be a UUID in RFC 4122 text form; it is written lower-case.
    /// Everything else stays as it was, byte for byte: the edit is a splice
    /// at the element's place in the text (`DomainXMLLayout`), not a
    /// rebuilt tree. genidd makes one at every new value, and on Linux each
    /// `XMLDocument` keeps about 10 KB for ever (a burst of clones grew it
    /// by megabytes: `genid-lab bench load`).
    public static func settingGenID(_ genID: GenID, in xml: String) throws(LibvirtError) -> String {
        let replacement: String
        switch genID {
        case .absent: replacement = ""
        case .generated: replacement = "<genid/>"
        case .value(let value):
            guard UUID(uuidString: value) != nil else {
                throw invalid("'\(value)' is not a UUID (expected 8-4-4-4-12 hex digits)")
            }
            replacement = "<genid>\(value.lowercased())</genid>"
        }
        _ = try domain(xml)  // strict and well-formed first: the layout trusts that
        let layout = try DomainXMLLayout(xml)
        let existing = layout.children.filter { $0.name == "genid" }
        var bytes = Array(xml.utf8)
        if let first = existing.first {
            // The first becomes the new one, the others go; from the end, so offsets hold.
            for element in existing.dropFirst().reversed() { bytes.removeSubrange(element.range) }
            bytes.replaceSubrange(first.range, with: Array(replacement.utf8))
        } else {
            let anchor = ["uuid", "name"].lazy.compactMap { name in layout.children.first { $0.name == name } }.first
            bytes.insert(contentsOf: Array(replacement.utf8), at: anchor?.range.upperBound ?? layout.contentStart)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The `<name>` of a domain definition.
    public static func name(in xml: String) throws(LibvirtError) -> String? {
        try domain(xml).name
    }

    /// The `<uuid>` of a domain definition, lower-cased.
    public static func uuid(in xml: String) throws(LibvirtError) -> String? {
        try domain(xml).uuid?.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
    }

    /// The UNIX socket of the `<channel type='unix'>` whose virtio target is
    /// named `target` (e.g. `org.qemu.guest_agent.0`), from
    /// `<source mode='bind' path='…'/>`; nil if there is no such channel or
    /// it has no path. A channel defined without a path gets one from libvirt
    /// when the domain starts
    /// (`/var/lib/libvirt/qemu/channel/target/domain-<id>-<short name>/<target>`),
    /// so read it from the live XML, again after every restart of QEMU (the
    /// domain id in it changes, e.g. on a snapshot revert).
    public static func channelSocketPath(target: String, in xml: String) throws(LibvirtError) -> String? {
        try domain(xml).channels.first { $0.type == "unix" && $0.target == target }?.path
    }

    /// A strict streaming read of a `<domain>` document.
    private static func domain(_ xml: String) throws(LibvirtError) -> DomainXMLReader {
        let reader = try DomainXMLReader.read(xml)
        guard reader.root == "domain" else { throw invalid("the root element is <\(reader.root)>, not <domain>") }
        return reader
    }

    /// The `<domain>` element as a tree, for an edit. XMLDocument recovers
    /// from malformed input (libxml2's recover mode), which could silently
    /// drop parts of a definition: the strict read comes first.
    static func domainElement(_ xml: String) throws(LibvirtError) -> XMLElement {
        _ = try domain(xml)
        let document: XMLDocument
        do {
            document = try XMLDocument(xmlString: xml, options: [.nodePreserveWhitespace])
        } catch {
            throw invalid("the domain XML does not parse: \(error.localizedDescription)")
        }
        guard let root = document.rootElement(), root.name == "domain" else {
            throw invalid("the root element is <\(document.rootElement()?.name ?? "?")>, not <domain>")
        }
        return root
    }

    /// After `<uuid>`, else after `<name>`, else first.
    private static func insertionIndex(in root: XMLElement) -> Int {
        for anchor in ["uuid", "name"] {
            if let element = root.elements(forName: anchor).first { return element.index + 1 }
        }
        return 0
    }

    static func invalid(_ message: String) -> LibvirtError {
        LibvirtError(code: .xmlError, domain: .none, message: message, operation: "editing domain XML")
    }
}
