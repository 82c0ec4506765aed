import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// What genid reads from a domain definition, in one strict streaming
/// parse. Reading goes through `XMLParser`, not `XMLDocument`: on Linux
/// every `XMLDocument` keeps about 10 KB that it never frees, and genidd
/// reads every domain's XML at every reconciliation. (`XMLDocument` stays
/// for the edits of the hook's filters, which run in a genidctl process
/// each; genidd's own edit, `DomainXML.settingGenID`, is a splice.)
struct DomainXMLReader {
    struct Channel {
        var type: String?
        var path: String?
        var target: String?
    }

    /// The root element's name.
    var root = ""
    /// The text of each `<genid>` child of `<domain>`.
    var genIDs: [String] = []
    var name: String?
    var uuid: String?
    var channels: [Channel] = []
    /// genid's `<metadata>` entry: the value the guest runs with, carried
    /// with the live definition (`DomainXML.carriedGeneration`).
    var carriedGeneration: String?
    /// The `guid` property that a `<qemu:override>` sets on the vmgenid
    /// device: the value QEMU was started with when it is there.
    var qemuGUIDOverride: String?

    /// Parses `xml`, whose `<domain>` is at `domainPath` (`["domain"]`, or
    /// `["domainsnapshot", "domain"]` in a snapshot). Malformed XML, or a
    /// document that just stops, is an error: nothing is guessed.
    static func read(_ xml: String, domainPath: [String] = ["domain"]) throws(LibvirtError) -> DomainXMLReader {
        let parser = XMLParser(data: Data(xml.utf8))
        parser.shouldProcessNamespaces = true  // element names without prefixes, and their namespaces
        let collector = Collector(domainPath: domainPath)
        parser.delegate = collector
        guard parser.parse() else {
            let reason = parser.parserError.map { "\($0.localizedDescription)" } ?? "unknown error"
            throw DomainXML.invalid("the domain XML is not well-formed (line \(parser.lineNumber)): \(reason)")
        }
        guard collector.path.isEmpty, collector.closedRoot else {
            throw DomainXML.invalid("the domain XML is not well-formed: it ends inside an element")
        }
        return collector.result
    }
}

/// Follows the element path and keeps the parts `DomainXMLReader` names.
private final class Collector: NSObject, XMLParserDelegate {
    let domainPath: [String]
    var path: [String] = []
    var closedRoot = false
    var result = DomainXMLReader()
    private var text: String?
    private var overrideDevice: String?

    init(domainPath: [String]) {
        self.domainPath = domainPath
    }

    /// The path below `<domain>`, or nil outside it.
    private var inDomain: ArraySlice<String>? {
        guard path.count >= domainPath.count, Array(path.prefix(domainPath.count)) == domainPath else { return nil }
        return path.dropFirst(domainPath.count)
    }

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?, attributes: [String: String] = [:]) {
        if path.isEmpty { result.root = elementName }
        path.append(elementName)
        let qemu = namespaceURI == DomainXML.qemuNamespace
        switch inDomain.map(Array.init) ?? [] {
        case ["genid"], ["name"], ["uuid"]: text = ""
        case ["metadata", DomainXML.carriedGenerationElement] where namespaceURI == DomainXML.continuityNamespace:
            text = ""
        case ["override", "device"] where qemu: overrideDevice = attributes["alias"]
        case ["override", "device", "frontend", "property"]
            where qemu && overrideDevice == DomainXML.vmgenidDeviceAlias && attributes["name"] == "guid":
            result.qemuGUIDOverride = attributes["value"]?.lowercased()
        case ["devices", "channel"]: result.channels.append(.init(type: attributes["type"]))
        case ["devices", "channel", "source"]: result.channels[result.channels.count - 1].path = attributes["path"]
        case ["devices", "channel", "target"]: result.channels[result.channels.count - 1].target = attributes["name"]
        default: break
        }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        text? += string
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?) {
        if let collected = text {
            switch inDomain.map(Array.init) ?? [] {
            case ["genid"]: result.genIDs.append(collected)
            case ["name"]: result.name = result.name ?? collected
            case ["uuid"]: result.uuid = result.uuid ?? collected
            case ["metadata", DomainXML.carriedGenerationElement]:
                result.carriedGeneration = collected.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
            default: break
            }
            text = nil
        }
        path.removeLast()
        if path.isEmpty { closedRoot = true }
    }
}
