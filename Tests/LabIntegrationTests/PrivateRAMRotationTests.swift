import AgentProtocol
import Foundation
import GenIDControl
import GenIDLab
import SQLiteGenerationStore
import VMGenID
import Testing

extension LabIntegration {
    /// A domain whose RAM is private to QEMU (no `<memoryBacking>`, like
    /// most existing domains): genidd cannot check its value without
    /// tainting it, but `genidctl rotate` and `revert` still give the guest a
    /// new value, through /proc/PID/mem.
    @Suite(.serialized) struct PrivateRAMRotationTests {
        @Test func rotateAndRevertReachAGuestWithoutSharedRAM() async throws {
            let fixture = try await GeniddFixture.start()
            defer { fixture.tearDown() }
            let (genidd, runRoot, ledgerPath) = (fixture.genidd, fixture.runRoot, fixture.ledgerPath)
            let connection = try fixture.environment.connect()
            defer { connection.close() }
            var configuration = LabDomainConfiguration(image: try LabSettings(runRoot: runRoot).imageBuilder.image(for: "6.1"))
            configuration.sharedRAM = false
            let lab = try await LabDomain.define(configuration, connection: connection, runRoot: runRoot)
            do {
                try await lab.start()
                _ = try await lab.waitForAgent(timeout: .seconds(90))
                #expect(lab.guestRAMPath() == nil, "the domain was meant to have no shared RAM")
                let before = try #require(try await lab.ask(.status)[AgentStatusField.vmgenid])

                let rotate = try await runCommand([LabProcess.binary("genidctl"), "rotate", lab.name, "--json",
                                                   "--socket", genidd.socketPath])
                #expect(rotate.status == 0, "\(rotate.output)\(rotate.errors)")
                let response = try JSONDecoder().decode(ControlResponse.self, from: Data(rotate.output.utf8))
                let value = try #require(response.rotation?.value, "\(rotate.output)")
                let guestAfter = try await guestValue(of: lab, changedFrom: before)
                #expect(guestAfter == value && guestAfter != before, "guest \(guestAfter), rotated to \(value), before \(before)")
                #expect(try await SQLiteGenerationStore(path: ledgerPath).owner(of: #require(GenerationID(value))) != nil)

                // genidctl revert, which libvirt does not see: a new value, and the
                // snapshot reverted to is libvirt's current one afterwards.
                try lab.domain.createSnapshot(named: "first")
                try lab.domain.createSnapshot(named: "second")
                #expect(try lab.domain.currentSnapshotName() == "second")
                let revert = try await runCommand([LabProcess.binary("genidctl"), "revert", lab.name, "first", "--json",
                                                   "--socket", genidd.socketPath])
                #expect(revert.status == 0, "\(revert.output)\(revert.errors)")
                let reverted = try #require(try JSONDecoder().decode(ControlResponse.self,
                                                                     from: Data(revert.output.utf8)).rotation?.value)
                #expect(try await guestValue(of: lab, changedFrom: guestAfter) == reverted)
                #expect(try lab.domain.currentSnapshotName() == "first")
            } catch {
                await lab.tearDown()
                throw error
            }
            await lab.tearDown()
        }
    }
}

/// The guest's VMGENID as its agent reports it, once it is not `old` (at most 10 s).
private func guestValue(of lab: LabDomain, changedFrom old: String) async throws -> String {
    var value = old
    for _ in 0..<50 where value == old {
        try await Task.sleep(for: .milliseconds(200))
        value = try await lab.ask(.status)[AgentStatusField.vmgenid] ?? old
    }
    return value
}
