import ArgumentParser
import Foundation
import Libvirt

struct LibvirtCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "libvirt",
        abstract: "Prepare libvirt domains for genid.",
        subcommands: [EnableCommand.self, MigrateXMLCommand.self])

    struct EnableCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "enable",
            abstract: "Add <genid/> to a domain's persistent definition.",
            discussion: """
                libvirt then gives the domain a VM Generation ID device with a value \
                of its own. Effective at the domain's next start (a running guest \
                cannot gain the device). Does nothing if the domain has <genid> already.
                """)

        @Argument(help: "The domain.") var domain: String
        @Option(help: "libvirt URI.") var uri = "qemu:///system"

        func run() throws {
            let connection = try Connection.open(uri)
            defer { connection.close() }
            let domain = try connection.domain(named: self.domain)
            let xml = try domain.xmlDescription(inactive: true, secure: true)
            if try DomainXML.genID(in: xml) != .absent {
                print("\(self.domain) has <genid> already")
                return
            }
            _ = try connection.defineDomain(xml: try DomainXML.settingGenID(.generated, in: xml))
            let running = try domain.isActive()
            print("\(self.domain): <genid/> added" + (running ? "; effective at the next start" : ""))
        }
    }

    struct MigrateXMLCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "migrate-xml",
            abstract: "For libvirt's migrate hook: carry the guest's current value to the destination QEMU.",
            discussion: """
                Reads an incoming domain definition on standard input. If genidd \
                recorded in its live <metadata> a value that QEMU's device does not \
                hold (the guest was given a new value in its running QEMU), prints \
                the definition with a <qemu:override> that creates the destination's \
                vmgenid device with that value; otherwise prints nothing, which \
                libvirt takes as "unchanged". Never calls libvirt or genidd: \
                qemu/hooks/genid runs it on the destination host for \
                'migrate begin'. Exits 1, printing nothing, on a definition it \
                cannot read, so that libvirt fails the migration rather than show \
                the guest an older value.

                Example (what the hook does):
                  genidctl libvirt migrate-xml < incoming.xml > changed.xml
                """)

        func run() throws {
            let input = FileHandle.standardInput.readDataToEndOfFile()
            guard let xml = String(data: input, encoding: .utf8), !xml.isEmpty else {
                throw ValidationError("no domain definition on standard input")
            }
            if let changed = try DomainXML.carryingGenerationToQEMU(in: xml) {
                print(changed)
            }
        }
    }
}
