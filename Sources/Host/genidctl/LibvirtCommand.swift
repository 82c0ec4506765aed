import ArgumentParser
import Libvirt

struct LibvirtCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "libvirt",
        abstract: "Prepare libvirt domains for genid.",
        subcommands: [EnableCommand.self])

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
}
