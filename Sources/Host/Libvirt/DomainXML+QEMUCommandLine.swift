import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Arguments libvirt passes to QEMU as they are, for devices libvirt has no
/// element for: QEMU's `-device vmclock` (libvirt 12.9 has none).
extension DomainXML {
    /// `xml` with `<qemu:commandline>` ending in one `<qemu:arg>` per
    /// argument (the element added when missing, the QEMU namespace
    /// declared when the definition has none).
    public static func addingQEMUArguments(_ arguments: [String], in xml: String) throws(LibvirtError) -> String {
        let root = try domainElement(xml)
        let prefix = qemuPrefix(of: root)
        let commandLine = (root.children ?? []).compactMap { $0 as? XMLElement }
            .first { $0.localName == "commandline" && $0.uri == qemuNamespace }
            ?? {
                let created = XMLElement(name: "\(prefix):commandline")
                root.addChild(created)
                return created
            }()
        for argument in arguments {
            let element = XMLElement(name: "\(prefix):arg")
            element.addAttribute(XMLNode.attribute(withName: "value", stringValue: argument) as! XMLNode)
            commandLine.addChild(element)
        }
        return root.xmlString
    }
}
