import Libvirt
import Testing

@Suite("DomainXML: reading and setting <genid>")
struct DomainXMLTests {
    let value = "5a67d7c6-9ab9-449b-a758-be75b197648d"

    @Test func readsAbsentGeneratedAndValue() throws {
        #expect(try DomainXML.genID(in: testDomainXML(name: "a", genid: nil)) == .absent)
        #expect(try DomainXML.genID(in: testDomainXML(name: "a", genid: "")) == .generated)
        #expect(try DomainXML.genID(in: testDomainXML(name: "a", genid: value.uppercased())) == .value(value))
        #expect(try DomainXML.genID(in: "<domain><genid>\n  \(value)\n</genid></domain>").value == value)
    }

    @Test func readsNameAndUUID() throws {
        let xml = "<domain type='test'><name>web</name><uuid>AAAAAAAA-1111-2222-3333-444444444444</uuid></domain>"
        #expect(try DomainXML.name(in: xml) == "web")
        #expect(try DomainXML.uuid(in: xml) == "aaaaaaaa-1111-2222-3333-444444444444")
    }

    @Test func insertsAfterUUIDWhenAbsent() throws {
        let xml = "<domain type='test'><name>web</name><uuid>aaaaaaaa-1111-2222-3333-444444444444</uuid><memory>1</memory></domain>"
        let edited = try DomainXML.settingGenID(.value(value.uppercased()), in: xml)
        #expect(try DomainXML.genID(in: edited) == .value(value))
        let uuidEnd = try #require(edited.range(of: "</uuid>"))
        let genid = try #require(edited.range(of: "<genid>\(value)</genid>"))
        let memory = try #require(edited.range(of: "<memory>"))
        #expect(uuidEnd.upperBound == genid.lowerBound)
        #expect(genid.upperBound == memory.lowerBound)
        #expect(edited.contains("type=\"test\"") || edited.contains("type='test'"))
    }

    @Test func insertsAfterNameWithoutUUID() throws {
        let edited = try DomainXML.settingGenID(.generated, in: "<domain><name>web</name><memory>1</memory></domain>")
        #expect(try DomainXML.genID(in: edited) == .generated)
        let nameEnd = try #require(edited.range(of: "</name>"))
        let genid = try #require(edited.range(of: "<genid"))
        #expect(nameEnd.upperBound == genid.lowerBound)
    }

    @Test func replacesInPlaceAndKeepsTheRest() throws {
        let xml = testDomainXML(name: "web", genid: value)
        let other = "0f3c2a9e-1b7d-4e5f-8a6b-9c0d1e2f3a4b"
        let edited = try DomainXML.settingGenID(.value(other), in: xml)
        #expect(try DomainXML.genID(in: edited) == .value(other))
        #expect(!edited.contains(value))
        #expect(edited.components(separatedBy: "<genid").count == 2)
        #expect(edited.contains("<memory unit=\"KiB\">65536</memory>"))
        #expect(try DomainXML.name(in: edited) == "web")
    }

    @Test func removes() throws {
        let edited = try DomainXML.settingGenID(.absent, in: testDomainXML(name: "web", genid: value))
        #expect(try DomainXML.genID(in: edited) == .absent)
        #expect(try DomainXML.settingGenID(.absent, in: edited).contains("<name>web</name>"))
    }

    @Test func rejectsBadInput() {
        #expect(throws: LibvirtError.self) { try DomainXML.settingGenID(.value("not-a-uuid"), in: "<domain/>") }
        #expect(throws: LibvirtError.self) { try DomainXML.genID(in: "<domain><name>") }
        #expect(throws: LibvirtError.self) { try DomainXML.genID(in: "<network><name>x</name></network>") }
        #expect(throws: LibvirtError.self) { try DomainXML.genID(in: "<domain><genid/><genid/></domain>") }
        do {
            _ = try DomainXML.genID(in: "<network/>")
        } catch {
            #expect(error.code == .xmlError)
            #expect(error.domain == .none)
            #expect(error.description.contains("<network>"))
        }
    }

    @Test func findsChannelSocketPathByTargetName() throws {
        let xml = """
            <domain type='qemu'><name>web</name><devices>
              <channel type='pty'><target type='virtio' name='org.other.0'/></channel>
              <channel type='unix'>
                <source mode='bind' path='/var/lib/libvirt/qemu/channel/target/domain-3-web/org.genid.agent.0'/>
                <target type='virtio' name='org.genid.agent.0' state='connected'/>
              </channel>
              <channel type='unix'><source mode='bind'/><target type='virtio' name='org.genid.genidd.0'/></channel>
            </devices></domain>
            """
        #expect(try DomainXML.channelSocketPath(target: "org.genid.agent.0", in: xml)
            == "/var/lib/libvirt/qemu/channel/target/domain-3-web/org.genid.agent.0")
        // Defined without a path (inactive XML): libvirt picks one at start.
        #expect(try DomainXML.channelSocketPath(target: "org.genid.genidd.0", in: xml) == nil)
        #expect(try DomainXML.channelSocketPath(target: "org.other.0", in: xml) == nil)
        #expect(try DomainXML.channelSocketPath(target: "missing", in: xml) == nil)
        #expect(throws: LibvirtError.self) { try DomainXML.channelSocketPath(target: "x", in: "<domain><devices>") }
    }
}
