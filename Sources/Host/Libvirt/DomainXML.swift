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
        let root = try domainElement(xml)
        let elements = root.elements(forName: "genid")
        guard let element = elements.first else { return .absent }
        guard elements.count == 1 else { throw invalid("the domain XML has \(elements.count) <genid> elements") }
        let text = (element.stringValue ?? "").trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        return text.isEmpty ? .generated : .value(text)
    }

    /// `xml` with its `<genid>` replaced (`.absent` removes it). A new element
    /// goes right after `<uuid>` (or `<name>`), where libvirt writes it.
    /// A `.value` must be a UUID in RFC 4122 text form; it is written lower-case.
    public static func settingGenID(_ genID: GenID, in xml: String) throws(LibvirtError) -> String {
        let root = try domainElement(xml)
        var text: String?
        switch genID {
        case .absent: text = nil
        case .generated: text = ""
        case .value(let value):
            guard UUID(uuidString: value) != nil else {
                throw invalid("'\(value)' is not a UUID (expected 8-4-4-4-12 hex digits)")
            }
            text = value.lowercased()
        }
        let existing = root.elements(forName: "genid")
        let index = existing.first?.index ?? insertionIndex(in: root)
        for element in existing { element.detach() }
        if let text {
            let element = XMLElement(name: "genid")
            if !text.isEmpty { element.stringValue = text }
            root.insertChild(element, at: min(index, root.childCount))
        }
        return root.xmlString
    }

    /// The `<name>` of a domain definition.
    public static func name(in xml: String) throws(LibvirtError) -> String? {
        try domainElement(xml).elements(forName: "name").first?.stringValue
    }

    /// The `<uuid>` of a domain definition, lower-cased.
    public static func uuid(in xml: String) throws(LibvirtError) -> String? {
        try domainElement(xml).elements(forName: "uuid").first?.stringValue?
            .trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
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
        let root = try domainElement(xml)
        for devices in root.elements(forName: "devices") {
            for channel in devices.elements(forName: "channel")
            where channel.attribute(forName: "type")?.stringValue == "unix" {
                let named = channel.elements(forName: "target").contains {
                    $0.attribute(forName: "name")?.stringValue == target
                }
                guard named else { continue }
                return channel.elements(forName: "source").first?.attribute(forName: "path")?.stringValue
            }
        }
        return nil
    }

    private static func domainElement(_ xml: String) throws(LibvirtError) -> XMLElement {
        // XMLDocument recovers from malformed input (libxml2's recover mode),
        // which could silently drop parts of a definition: check well-formedness
        // with the strict SAX parser first.
        // (It does not report a document that just stops, so also count that
        // every element is closed.)
        let parser = XMLParser(data: Data(xml.utf8))
        let balance = ElementBalance()
        parser.delegate = balance
        guard parser.parse() else {
            let reason = parser.parserError.map { "\($0.localizedDescription)" } ?? "unknown error"
            throw invalid("the domain XML is not well-formed (line \(parser.lineNumber)): \(reason)")
        }
        guard balance.depth == 0, balance.closedRoot else {
            throw invalid("the domain XML is not well-formed: it ends inside an element")
        }
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

    private static func invalid(_ message: String) -> LibvirtError {
        LibvirtError(code: .xmlError, domain: .none, message: message, operation: "editing domain XML")
    }
}

/// Counts open elements during a strict parse.
private final class ElementBalance: NSObject, XMLParserDelegate {
    var depth = 0
    var closedRoot = false

    func parser(
        _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
        qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]
    ) {
        depth += 1
    }

    func parser(
        _ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?
    ) {
        depth -= 1
        if depth == 0 { closedRoot = true }
    }
}
