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
        #expect(edited == xml.replacingOccurrences(of: value, with: other), "everything else byte for byte")
        #expect(try DomainXML.name(in: edited) == "web")
    }

    @Test func editsOnlyTheDomainsOwnElement() throws {
        // A <genid> in a comment, a CDATA section, an attribute value or
        // another element's children is not the domain's.
        let xml = """
            <?xml version="1.0"?>
            <!-- <genid>\(value)</genid> -->
            <domain type='test' note='a > b &lt;genid/>'><name>web</name><metadata><app xmlns="urn:x">\
            <genid>\(value)</genid><![CDATA[<genid/>]]></app></metadata><uuid>aaaaaaaa-1111-2222-3333-444444444444</uuid>\
            <devices/></domain>
            """
        #expect(try DomainXML.genID(in: xml) == .absent)
        let other = "0f3c2a9e-1b7d-4e5f-8a6b-9c0d1e2f3a4b"
        let edited = try DomainXML.settingGenID(.value(other), in: xml)
        #expect(edited == xml.replacingOccurrences(of: "444444444444</uuid>", with: "444444444444</uuid><genid>\(other)</genid>"))
        #expect(try DomainXML.genID(in: edited) == .value(other))
        #expect(try DomainXML.settingGenID(.absent, in: edited) == xml)
    }

    @Test func replacesEveryDuplicateWithOne() throws {
        let xml = "<domain><name>a</name><genid/><memory>1</memory><genid>\(value)</genid></domain>"
        #expect(try DomainXML.settingGenID(.generated, in: xml) == "<domain><name>a</name><genid/><memory>1</memory></domain>")
    }

    /// genidd writes a value at every clone and revert it handles: the edit
    /// must not keep memory (an XMLDocument kept about 10 KB each).
    @Test func editsKeepNoMemory() throws {
        let xml = testDomainXML(name: "web", genid: value)
        func resident() throws -> Int {
            let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
            let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") })
            return try #require(Int(line.split(separator: " ")[1]))
        }
        _ = try DomainXML.settingGenID(.value(value), in: xml)
        let before = try resident()
        // An XMLDocument kept about 100 MB over these; the margin is for the
        // suites that run beside this one in the same process.
        for _ in 0..<10_000 { _ = try DomainXML.settingGenID(.value(value), in: xml) }
        let kept = try resident() - before
        #expect(kept < 40_000, "10,000 edits kept \(kept) KB")
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
