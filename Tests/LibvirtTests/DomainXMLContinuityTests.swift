import Libvirt
import Testing

@Suite("DomainXML: the carried value and the destination's QEMU device")
struct DomainXMLContinuityTests {
    let booted = "5a67d7c6-9ab9-449b-a758-be75b197648d"
    let given = "0d4c1e9f-3b7a-4c2e-8f10-6a5b4c3d2e1f"

    /// A live definition as libvirt formats it after `virDomainSetMetadata`.
    func live(carrying carried: String?, override: String? = nil, qemuPrefix: String = "qemu") -> String {
        let metadata = carried.map {
            "<metadata><genid:generation xmlns:genid=\"urn:genid:libvirt:1\">\($0.uppercased())</genid:generation>"
                + "<other:x xmlns:other=\"urn:other\">\(booted)</other:x></metadata>"
        } ?? ""
        let overrideXML = override.map {
            "<\(qemuPrefix):override><\(qemuPrefix):device alias='vmgenid0'><\(qemuPrefix):frontend>"
                + "<\(qemuPrefix):property name='guid' type='string' value='\($0)'/>"
                + "</\(qemuPrefix):frontend></\(qemuPrefix):device></\(qemuPrefix):override>"
        } ?? ""
        let namespace = override == nil ? "" : " xmlns:\(qemuPrefix)='http://libvirt.org/schemas/domain/qemu/1.0'"
        return "<domain type='qemu'\(namespace)><name>web</name><uuid>aaaaaaaa-1111-2222-3333-444444444444</uuid>"
            + "<genid>\(booted)</genid>\(metadata)<devices><emulator>/usr/bin/qemu</emulator></devices>"
            + "\(overrideXML)</domain>"
    }

    @Test func readsTheCarriedValueOnlyInGenIDsNamespace() throws {
        #expect(try DomainXML.carriedGeneration(in: live(carrying: given)) == given)
        #expect(try DomainXML.carriedGeneration(in: live(carrying: nil)) == nil)
        let foreign = "<domain><genid>\(booted)</genid><metadata><x:generation xmlns:x=\"urn:not-genid\">\(given)"
            + "</x:generation></metadata></domain>"
        #expect(try DomainXML.carriedGeneration(in: foreign) == nil)
    }

    @Test func setsTheDestinationDeviceValueToTheCarriedOne() throws {
        let changed = try #require(try DomainXML.carryingGenerationToQEMU(in: live(carrying: given)))
        #expect(try DomainXML.qemuDeviceValue(in: changed) == given)
        #expect(try DomainXML.genID(in: changed) == .value(booted), "libvirt requires the source's <genid>")
        #expect(try DomainXML.carriedGeneration(in: changed) == given)
        #expect(changed.contains("<qemu:override>"))
        // Applying it again changes nothing: the device holds the value now.
        #expect(try DomainXML.carryingGenerationToQEMU(in: changed) == nil)
    }

    @Test func updatesAnOverrideFromAnEarlierMigration() throws {
        let earlier = live(carrying: given, override: booted, qemuPrefix: "q")
        let changed = try #require(try DomainXML.carryingGenerationToQEMU(in: earlier))
        #expect(try DomainXML.qemuDeviceValue(in: changed) == given)
        #expect(changed.components(separatedBy: "override>").count == 3, "one override element, not two")
        #expect(!changed.contains("<qemu:"), "the definition's own prefix is kept")
    }

    @Test func leavesDefinitionsWithoutACarriedValueOrWithTheRightDeviceValueAlone() throws {
        #expect(try DomainXML.carryingGenerationToQEMU(in: live(carrying: nil)) == nil)
        #expect(try DomainXML.carryingGenerationToQEMU(in: live(carrying: booted)) == nil)
        #expect(try DomainXML.carryingGenerationToQEMU(in: live(carrying: given, override: given)) == nil)
        #expect(try DomainXML.qemuDeviceValue(in: live(carrying: nil)) == booted)
    }

    @Test func refusesWhatItCannotCarry() throws {
        #expect(throws: LibvirtError.self) { try DomainXML.carryingGenerationToQEMU(in: live(carrying: "not-a-uuid")) }
        #expect(throws: LibvirtError.self) { try DomainXML.carryingGenerationToQEMU(in: "<domain><genid>") }
        let noGenID = live(carrying: given).replacingOccurrences(of: "<genid>\(booted)</genid>", with: "")
        #expect(throws: LibvirtError.self) { try DomainXML.carryingGenerationToQEMU(in: noGenID) }
    }

    @Test func aRestoreDropsTheDeviceValueAMigrationGave() throws {
        let migrated = try #require(try DomainXML.carryingGenerationToQEMU(in: live(carrying: given)))
        let restored = try #require(try DomainXML.droppingQEMUDeviceValue(in: migrated))
        #expect(try DomainXML.qemuDeviceValue(in: restored) == booted, "libvirt's <genid> applies again")
        #expect(!restored.contains("override"))
        #expect(try DomainXML.droppingQEMUDeviceValue(in: live(carrying: given)) == nil, "nothing to drop")
    }

    @Test func metadataElementIsWhatTheReaderFinds() {
        #expect(DomainXML.carriedGenerationMetadata(given.uppercased()) == "<generation>\(given)</generation>")
    }
}

@Suite("DomainXML: QEMU arguments libvirt has no element for")
struct DomainXMLQEMUCommandLineTests {
    @Test func argumentsAreAppendedUnderTheDefinitionsPrefix() throws {
        let plain = "<domain type='qemu'><name>web</name><devices/></domain>"
        let added = try DomainXML.addingQEMUArguments(["-device", "vmclock"], in: plain)
        #expect(added.contains("xmlns:qemu=\"http://libvirt.org/schemas/domain/qemu/1.0\""), "\(added)")
        #expect(arguments(in: added, prefix: "qemu") == ["-device", "vmclock"], "\(added)")
        // An existing element under another prefix gets the new arguments after its own.
        let existing = "<domain type='qemu' xmlns:q='http://libvirt.org/schemas/domain/qemu/1.0'><name>web</name>"
            + "<q:commandline><q:arg value='-S'/></q:commandline></domain>"
        let appended = try DomainXML.addingQEMUArguments(["-device", "vmclock"], in: existing)
        #expect(arguments(in: appended, prefix: "q") == ["-S", "-device", "vmclock"], "\(appended)")
        #expect(!appended.contains("xmlns:qemu"))
        #expect(throws: LibvirtError.self) { try DomainXML.addingQEMUArguments(["-x"], in: "<notadomain/>") }
    }

    /// The `value`s of the `<PREFIX:arg>` elements, in order.
    func arguments(in xml: String, prefix: String) -> [String] {
        xml.matches(of: try! Regex("<\(prefix):arg value=\"([^\"]*)\"")).compactMap { $0.output[1].substring.map(String.init) }
    }
}
