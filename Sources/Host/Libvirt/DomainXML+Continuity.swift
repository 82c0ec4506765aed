import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// How the value a guest runs with travels with its domain.
///
/// libvirt's `<genid>` cannot follow a rotation done inside a running QEMU:
/// the live definition cannot be edited, and a migration's destination must
/// keep the source's `<genid>` (libvirt compares them). So genidd writes the
/// guest's current value into the live definition's `<metadata>` (which
/// libvirt sends along with a migration), and the destination's hook turns
/// it into a `<qemu:override>` of the vmgenid device's `guid` property: the
/// destination QEMU is created holding the value the guest already has, and
/// writes that one at the incoming load and at every later reset.
extension DomainXML {
    /// The namespace of genid's `<metadata>` entry.
    public static let continuityNamespace = "urn:genid:libvirt:1"
    /// The prefix libvirt writes it with (the `key` of `virDomainSetMetadata`).
    public static let continuityPrefix = "genid"
    /// `<genid:generation>VALUE</genid:generation>` inside `<metadata>`.
    public static let carriedGenerationElement = "generation"
    /// libvirt's QEMU namespace (`<qemu:override>`, libvirt >= 8.2).
    public static let qemuNamespace = "http://libvirt.org/schemas/domain/qemu/1.0"
    /// The alias libvirt gives the VM Generation ID device.
    public static let vmgenidDeviceAlias = "vmgenid0"

    /// The `<metadata>` element for `virDomainSetMetadata` (without its
    /// namespace: libvirt adds it from the URI and key).
    public static func carriedGenerationMetadata(_ value: String) -> String {
        "<\(carriedGenerationElement)>\(value.lowercased())</\(carriedGenerationElement)>"
    }

    /// Who holds which value in a live definition.
    public struct LiveHolders: Sendable, Equatable {
        /// `<genid>`: libvirt's idea of the value.
        public var libvirt: String?
        /// What QEMU's vmgenid device was created with (`qemuDeviceValue`).
        public var qemu: String?
        /// What genid's `<metadata>` carries to a migration's destination.
        public var carried: String?
    }

    /// The three holders of a live definition, in one read.
    public static func liveHolders(in xml: String) throws(LibvirtError) -> LiveHolders {
        let reader = try DomainXMLReader.read(xml)
        let genID = reader.genIDs.count == 1
            ? reader.genIDs[0].trimmingCharacters(in: .whitespacesAndNewlines).lowercased() : ""
        let libvirt = genID.isEmpty ? nil : genID
        return LiveHolders(libvirt: libvirt, qemu: reader.qemuGUIDOverride ?? libvirt,
                           carried: reader.carriedGeneration)
    }

    /// The value genid's `<metadata>` entry carries, if any.
    public static func carriedGeneration(in xml: String) throws(LibvirtError) -> String? {
        try DomainXMLReader.read(xml).carriedGeneration
    }

    /// The value the domain's QEMU device was created with: a
    /// `<qemu:override>` of its `guid` if there is one, else `<genid>`.
    public static func qemuDeviceValue(in xml: String) throws(LibvirtError) -> String? {
        try liveHolders(in: xml).qemu
    }

    /// For a migration's destination (libvirt's `migrate begin` hook): the
    /// incoming definition with QEMU's device value set to the carried one,
    /// or nil when there is nothing to change (no carried value, or QEMU's
    /// device holds it already).
    public static func carryingGenerationToQEMU(in xml: String) throws(LibvirtError) -> String? {
        let reader = try DomainXMLReader.read(xml)
        guard reader.root == "domain" else { throw invalid("the root element is <\(reader.root)>, not <domain>") }
        guard let carried = reader.carriedGeneration else { return nil }
        guard UUID(uuidString: carried) != nil else {
            throw invalid("genid's <metadata> carries '\(carried)', which is not a UUID")
        }
        guard reader.genIDs.count == 1 else {
            throw invalid("genid's <metadata> carries a value but the definition has no single <genid>")
        }
        let current = reader.qemuGUIDOverride
            ?? reader.genIDs[0].trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        guard current != carried else { return nil }
        return try settingQEMUDeviceValue(carried, in: xml)
    }

    /// For a restore (libvirt's `restore begin` hook): the definition without
    /// the vmgenid device value a migration's destination was created with,
    /// so that libvirt's own value (fresh at every restore) applies again;
    /// nil when there is none. The loaded state is not the guest's present.
    public static func droppingQEMUDeviceValue(in xml: String) throws(LibvirtError) -> String? {
        guard try DomainXMLReader.read(xml).qemuGUIDOverride != nil else { return nil }
        let root = try domainElement(xml)
        let elements = { (parent: XMLElement, name: String) in
            (parent.children ?? []).compactMap { $0 as? XMLElement }.filter { $0.localName == name && $0.uri == qemuNamespace }
        }
        for override in elements(root, "override") {
            for device in elements(override, "device") where device.attribute(forName: "alias")?.stringValue == vmgenidDeviceAlias {
                for frontend in elements(device, "frontend") {
                    for property in elements(frontend, "property") where property.attribute(forName: "name")?.stringValue == "guid" {
                        property.detach()
                    }
                    if elements(frontend, "property").isEmpty { frontend.detach() }
                }
                if (device.children ?? []).compactMap({ $0 as? XMLElement }).isEmpty { device.detach() }
            }
            if (override.children ?? []).compactMap({ $0 as? XMLElement }).isEmpty { override.detach() }
        }
        return root.xmlString
    }

    /// `xml` with `<qemu:override>` setting the vmgenid device's `guid` to
    /// `value` (added, or changed where it exists).
    static func settingQEMUDeviceValue(_ value: String, in xml: String) throws(LibvirtError) -> String {
        let root = try domainElement(xml)
        let prefix = qemuPrefix(of: root)
        func element(_ name: String, in parent: XMLElement, where matches: (XMLElement) -> Bool = { _ in true },
                     attributes: [String: String] = [:]) -> XMLElement {
            let candidates = (parent.children ?? []).compactMap { $0 as? XMLElement }
                .filter { $0.localName == name && $0.uri == qemuNamespace }
            if let found = candidates.first(where: matches) { return found }
            // A prefixed name, no URI: the root declares the prefix.
            let created = XMLElement(name: "\(prefix):\(name)")
            for (key, value) in attributes.sorted(by: { $0.key < $1.key }) {
                created.addAttribute(XMLNode.attribute(withName: key, stringValue: value) as! XMLNode)
            }
            parent.addChild(created)
            return created
        }
        let override = element("override", in: root)
        let device = element("device", in: override,
                             where: { $0.attribute(forName: "alias")?.stringValue == vmgenidDeviceAlias },
                             attributes: ["alias": vmgenidDeviceAlias])
        let frontend = element("frontend", in: device)
        let property = element("property", in: frontend,
                               where: { $0.attribute(forName: "name")?.stringValue == "guid" },
                               attributes: ["name": "guid", "type": "string"])
        property.attribute(forName: "type")?.stringValue = "string"
        if let attribute = property.attribute(forName: "value") {
            attribute.stringValue = value.lowercased()
        } else {
            property.addAttribute(XMLNode.attribute(withName: "value", stringValue: value.lowercased()) as! XMLNode)
        }
        return root.xmlString
    }

    /// The prefix the root binds to libvirt's QEMU namespace, declared as
    /// `qemu` when the definition has none.
    static func qemuPrefix(of root: XMLElement) -> String {
        if let bound = (root.namespaces ?? []).first(where: { $0.stringValue == qemuNamespace }),
           let name = bound.name, !name.isEmpty {
            return name
        }
        root.addNamespace(XMLNode.namespace(withName: "qemu", stringValue: qemuNamespace) as! XMLNode)
        return "qemu"
    }
}
