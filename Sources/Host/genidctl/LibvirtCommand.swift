import ArgumentParser
import Foundation
import Libvirt

struct LibvirtCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "libvirt",
        abstract: "Prepare libvirt domains for genid.",
        subcommands: [EnableCommand.self, MigrateXMLCommand.self, RestoreXMLCommand.self])

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
                printLine("\(self.domain) has <genid> already")
                return
            }
            _ = try connection.defineDomain(xml: try DomainXML.settingGenID(.generated, in: xml))
            let running = try domain.isActive()
            printLine("\(self.domain): <genid/> added" + (running ? "; effective at the next start" : ""))
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

                Example (a running domain's live XML: prints nothing, QEMU's device \
                holds the guest's value unless genid rotated it in place):
                  virsh dumpxml web1 | genidctl libvirt migrate-xml
                """)

        func run() throws {
            // The definition goes back to libvirt as it is: not text for a
            // person, so not escaped.
            if let changed = try DomainXML.carryingGenerationToQEMU(in: try readDefinition()) {
                print(changed)
            }
        }
    }

    struct RestoreXMLCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "restore-xml",
            abstract: "For libvirt's restore hook: let libvirt give a restored domain a fresh value.",
            discussion: """
                Reads the definition of a saved image being restored on standard \
                input. If an earlier migration had genid create the domain's vmgenid \
                device with the guest's value (<qemu:override>), prints the \
                definition without it, so that the restored QEMU gets libvirt's own \
                value, fresh at every restore; otherwise prints nothing ("unchanged"). \
                Never calls libvirt or genidd; qemu/hooks/genid runs it for \
                'restore begin'. Exits 1, printing nothing, on a definition it \
                cannot read.

                Example (a running domain's live XML, which a save would store):
                  virsh dumpxml web1 | genidctl libvirt restore-xml
                """)

        func run() throws {
            // As for migrate-xml: libvirt's input, unescaped.
            if let changed = try DomainXML.droppingQEMUDeviceValue(in: try readDefinition()) {
                print(changed)
            }
        }
    }
}

/// The domain XML a hook passes on standard input.
func readDefinition() throws -> String {
    let input = FileHandle.standardInput.readDataToEndOfFile()
    guard let xml = String(data: input, encoding: .utf8), !xml.isEmpty else {
        throw ValidationError("no domain definition on standard input")
    }
    return xml
}
