import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Where libvirt put the host end of a domain's virtio-serial channel: the
/// `<source path>` of the `<channel type='unix'>` whose target has `name`,
/// in the live definition (libvirt chooses the path when the XML has none).
enum DomainChannel {
    static func socketPath(target name: String, liveXML: String) -> String? {
        guard let document = try? XMLDocument(xmlString: liveXML), let root = document.rootElement() else { return nil }
        for devices in root.elements(forName: "devices") {
            for channel in devices.elements(forName: "channel")
            where channel.attribute(forName: "type")?.stringValue == "unix" {
                let targets = channel.elements(forName: "target")
                guard targets.contains(where: { $0.attribute(forName: "name")?.stringValue == name }) else { continue }
                return channel.elements(forName: "source").first?.attribute(forName: "path")?.stringValue
            }
        }
        return nil
    }
}
