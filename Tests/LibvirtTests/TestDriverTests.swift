import Foundation
import Libvirt
import Testing

/// Against a real libvirt: the `test:///default` driver (no daemon). Serialized,
/// since all connections of the process share the driver's state.
@Suite("libvirt test driver", .serialized)
struct TestDriverTests {
    @Test func openAndClose() async throws {
        let connection = try Connection.open(testURI)
        #expect(EventLoop.isRunning)
        #expect(try connection.canonicalURI() == testURI)
        #expect(connection.isAlive)
        #expect(try connection.libvirtVersion().major >= 9)
        let closeEvents = Task { var count = 0; for await _ in connection.closeEvents { count += 1 }; return count }
        connection.close()
        connection.close()  // idempotent
        #expect(connection.isClosed)
        #expect(!connection.isAlive)
        #expect(await closeEvents.value == 0)  // ended by close(), not by a loss
        let error = try #require(throws: LibvirtError.self) { try connection.allDomains() }
        #expect(error.code == .invalidConnection)
        #expect(error.description.contains("closed"))
    }

    @Test func openFailureNamesTheURI() {
        let error = try? #require(throws: LibvirtError.self) { try Connection.open("test:///nonexistent/genid.xml") }
        #expect(error?.description.contains("test:///nonexistent/genid.xml") == true)
    }

    @Test func listsTheDefaultDomain() throws {
        let connection = try Connection.open(testURI)
        defer { connection.close() }
        let domains = try connection.allDomains()
        let test = try #require(domains.first { $0.name == "test" })
        #expect(try test.state().state == .running)
        #expect(try test.isActive())
        #expect(try test.isPersistent())
        #expect(test.id != nil)
        #expect(test.uuid != nil)
        #expect(try connection.domain(uuid: test.uuidString).name == "test")
        #expect(try connection.domain(uuid: try #require(test.uuid)).name == "test")
        #expect(try connection.allDomains(.active).contains { $0.name == "test" })
        #expect(!(try connection.allDomains(.inactive).contains { $0.name == "test" }))
        let live = try test.xmlDescription()
        #expect(try DomainXML.name(in: live) == "test")
        #expect(try DomainXML.uuid(in: live) == test.uuidString)
        #expect(try DomainXML.name(in: try test.xmlDescription(inactive: true)) == "test")
    }

    @Test func missingDomainIsAnActionableError() throws {
        let connection = try Connection.open(testURI)
        defer { connection.close() }
        let error = try #require(throws: LibvirtError.self) { try connection.domain(named: "genid-no-such-domain") }
        #expect(error.code == .noDomain)
        #expect(error.domain != .none)
        #expect(!error.message.isEmpty)  // the test driver says only "Domain not found"
        #expect(error.description.contains("looking up domain 'genid-no-such-domain' on test:///default"))
        #expect(error.description.contains("virsh list --all"))
        let byUUID = try #require(throws: LibvirtError.self) {
            try connection.domain(uuid: "00000000-0000-4000-8000-000000000000")
        }
        #expect(byUUID.code == .noDomain)
    }

    @Test func keepAliveIsUnsupportedWithoutAPeer() throws {
        let connection = try Connection.open(testURI)
        defer { connection.close() }
        let error = try #require(throws: LibvirtError.self) { try connection.setKeepAlive(interval: 5, count: 3) }
        #expect(error.code == .noSupport)
        #expect(error.description.contains("does not support"))
    }

    @Test func defineStartDestroyUndefineWithEvents() async throws {
        let connection = try Connection.open(testURI)
        defer { connection.close() }
        let events = EventCollector(try connection.lifecycleEvents())
        let name = uniqueDomainName("life")

        let domain = try connection.defineDomain(xml: testDomainXML(name: name, genid: ""))
        #expect(domain.name == name)
        #expect(try !domain.isActive())
        // libvirt fills <genid/> with a value at define time.
        let persistent = try DomainXML.genID(in: domain.xmlDescription(inactive: true))
        let value = try #require(persistent.value)
        #expect(UUID(uuidString: value) != nil)

        try domain.start()
        #expect(try domain.state().state == .running)
        #expect(try DomainXML.genID(in: domain.xmlDescription()) == .value(value))
        try domain.destroy()
        #expect(try domain.state().state == .shutOff)
        try domain.undefine()
        #expect(throws: LibvirtError.self) { try connection.domain(named: name) }

        let expected: [DomainLifecycleEvent.Kind] = [
            .defined(.added), .started(.booted), .stopped(.destroyed), .undefined(.removed),
        ]
        #expect(await events.wait(for: expected, of: name) == expected)
    }

    @Test func redefineWithAnotherGenIDIsAnUpdate() async throws {
        let connection = try Connection.open(testURI)
        defer { connection.close() }
        let events = EventCollector(try connection.lifecycleEvents())
        let name = uniqueDomainName("update")
        let first = "11111111-2222-4333-8444-555555555555"
        let second = "0f3c2a9e-1b7d-4e5f-8a6b-9c0d1e2f3a4b"

        let domain = try connection.defineDomain(xml: testDomainXML(name: name, genid: first))
        #expect(try DomainXML.genID(in: domain.xmlDescription(inactive: true)) == .value(first))
        let edited = try DomainXML.settingGenID(.value(second), in: domain.xmlDescription(inactive: true))
        let updated = try connection.defineDomain(xml: edited)
        #expect(updated.uuidString == domain.uuidString)
        #expect(try DomainXML.genID(in: updated.xmlDescription(inactive: true)) == .value(second))
        let removed = try DomainXML.settingGenID(.absent, in: updated.xmlDescription(inactive: true))
        #expect(try DomainXML.genID(in: connection.defineDomain(xml: removed).xmlDescription(inactive: true)) == .absent)
        try updated.undefine()

        let expected: [DomainLifecycleEvent.Kind] = [
            .defined(.added), .defined(.updated), .defined(.updated), .undefined(.removed),
        ]
        #expect(await events.wait(for: expected, of: name) == expected)
    }

    /// The test driver supports snapshots, but unlike the QEMU driver it never
    /// regenerates `<genid>` and an inactive revert emits no
    /// DEFINED/FROM_SNAPSHOT; these assertions pin that down.
    @Test func snapshotCreateAndRevert() async throws {
        let connection = try Connection.open(testURI)
        defer { connection.close() }
        let events = EventCollector(try connection.lifecycleEvents())
        let name = uniqueDomainName("snap")
        let domain = try connection.defineDomain(xml: testDomainXML(name: name, genid: ""))
        defer { try? domain.destroy(); try? domain.undefine(.snapshotsMetadata) }

        // Running snapshot, then a running revert: the events a QEMU domain
        // with <genid> also gets (libvirt restarts QEMU).
        try domain.start()
        let value = try #require(DomainXML.genID(in: domain.xmlDescription()).value)
        #expect(try domain.createSnapshot(named: "running-1", description: "genid test") == "running-1")
        #expect(try domain.snapshotNames() == ["running-1"])
        try domain.revertToSnapshot(named: "running-1")
        #expect(try domain.state().state == .running)
        let runningRevert: [DomainLifecycleEvent.Kind] = [
            .defined(.added), .started(.booted), .stopped(.fromSnapshot), .started(.fromSnapshot),
        ]
        #expect(await events.wait(for: runningRevert, of: name) == runningRevert)
        #expect(try DomainXML.genID(in: domain.xmlDescription()) == .value(value))  // mock: not rotated

        // Inactive snapshot, then an inactive revert: no event from the mock.
        try domain.destroy()
        try domain.createSnapshot(named: "off-1")
        try domain.revertToSnapshot(named: "off-1")
        #expect(try domain.state().state == .shutOff)
        #expect(try DomainXML.genID(in: domain.xmlDescription(inactive: true)) == .value(value))

        // Inactive -> running snapshot: STARTED/FROM_SNAPSHOT; and back: STOPPED/FROM_SNAPSHOT.
        try domain.revertToSnapshot(named: "running-1")
        #expect(try domain.state().state == .running)
        try domain.revertToSnapshot(named: "off-1")
        #expect(try domain.state().state == .shutOff)
        let all = runningRevert + [.stopped(.destroyed), .started(.fromSnapshot), .stopped(.fromSnapshot)]
        #expect(await events.wait(for: all, of: name) == all)

        let missing = try #require(throws: LibvirtError.self) { try domain.revertToSnapshot(named: "no-such") }
        #expect(missing.code == .noDomainSnapshot)
        #expect(missing.description.contains("snapshot-list"))

        try domain.deleteSnapshot(named: "off-1")
        #expect(try domain.snapshotNames() == ["running-1"])
        let hasSnapshots = try #require(throws: LibvirtError.self) { try domain.undefine() }
        #expect(hasSnapshots.description.contains("undefining domain '\(name)'"))
        try domain.undefine(.snapshotsMetadata)
    }

    /// What genidd does after a revert libvirt did not see: the snapshot
    /// reverted to becomes libvirt's current one; nothing else changes.
    @Test func makeSnapshotCurrentRedefinesIt() throws {
        let connection = try Connection.open(testURI)
        defer { connection.close() }
        let name = uniqueDomainName("current")
        let domain = try connection.defineDomain(xml: testDomainXML(name: name, genid: ""))
        defer { try? domain.destroy(); try? domain.undefine(.snapshotsMetadata) }
        try domain.start()
        #expect(try domain.currentSnapshotName() == nil)
        try domain.createSnapshot(named: "first")
        try domain.createSnapshot(named: "second")
        #expect(try domain.currentSnapshotName() == "second")
        try domain.makeSnapshotCurrent(named: "first")
        #expect(try domain.currentSnapshotName() == "first")
        #expect(Set(try domain.snapshotNames()) == ["first", "second"])
        #expect(try domain.state().state == .running)
        let missing = try #require(throws: LibvirtError.self) { try domain.makeSnapshotCurrent(named: "no-such") }
        #expect(missing.code == .noDomainSnapshot)
    }

    @Test func saveAndRestore() async throws {
        let connection = try Connection.open(testURI)
        defer { connection.close() }
        let events = EventCollector(try connection.lifecycleEvents())
        let name = uniqueDomainName("save")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(name).save").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let domain = try connection.defineDomain(xml: testDomainXML(name: name, genid: ""))
        defer { try? domain.destroy(); try? domain.undefine() }

        try domain.start()
        let value = try #require(DomainXML.genID(in: domain.xmlDescription()).value)
        try domain.save(to: path)
        #expect(try domain.state().state == .shutOff)
        #expect(FileManager.default.fileExists(atPath: path))
        try connection.restore(from: path)
        #expect(try domain.state().state == .running)
        #expect(try DomainXML.genID(in: domain.xmlDescription()) == .value(value))  // mock: not rotated

        let expected: [DomainLifecycleEvent.Kind] = [
            .defined(.added), .started(.booted), .stopped(.saved), .started(.restored),
        ]
        let seen = await events.wait(for: expected, of: name)
        #expect(seen == expected, "events: \(seen)")
    }

    @Test func streamsEndOnCloseAndCancellationDeregisters() async throws {
        let connection = try Connection.open(testURI)
        let kept = EventCollector(try connection.lifecycleEvents())
        let cancelled = Task { for await _ in try connection.lifecycleEvents() {} }
        try await Task.sleep(for: .milliseconds(50))
        cancelled.cancel()
        _ = await cancelled.result

        // Still delivering after the other stream went away.
        let name = uniqueDomainName("close")
        let domain = try connection.defineDomain(xml: testDomainXML(name: name, genid: nil))
        #expect(await kept.wait(for: [.defined(.added)], of: name) == [.defined(.added)])
        try domain.undefine()
        _ = await kept.wait(for: [.undefined(.removed)], of: name)

        connection.close()
        #expect(await kept.waitForEnd())
        #expect(throws: LibvirtError.self) { try connection.lifecycleEvents() }
    }

    @Test func domainsOutliveTheirConnection() throws {
        let connection = try Connection.open(testURI)
        let test = try connection.domain(named: "test")
        connection.close()
        #expect(test.name == "test")
        #expect(try test.isActive())
    }
}
