import Testing
import VMGenID
@testable import GenIDDaemon

/// `genidctl status`: one truth per domain, and every disagreement named.
@Suite struct StatusReportTests {
    func observation(live: GenerationID?, guest: GenerationID?, active: Bool = true,
                     error: String? = nil) -> DomainObservation {
        DomainObservation(identity: .init(name: "web", uuid: "6f1d8a52-7c2e-4b9a-9d3e-0a1b2c3d4e5f"), isActive: active,
                          persistentXML: "<domain/>", liveXML: active ? "<domain/>" : nil, hasGenID: true,
                          libvirtLiveValue: live, persistentValue: .random(), guestValue: guest,
                          guestMemoryError: error, snapshotWithPersistentValue: nil)
    }

    @Test func holdersThatAgreeNeedNoWord() {
        let value = GenerationID.random()
        let status = StatusReport.make(observation(live: value, guest: value), state: "running", readiness: nil,
                                       note: nil)
        #expect(status.liveValue == value.description && status.libvirtValue == value.description)
        #expect(status.guestMemoryValue == value.description && status.disagreement == nil)
    }

    @Test func afterAGenidRotationTheStaleHolderIsNamed() {
        let (libvirt, guest) = (GenerationID.random(), GenerationID.random())
        let status = StatusReport.make(observation(live: libvirt, guest: guest), state: "running", readiness: nil,
                                       note: nil)
        #expect(status.liveValue == guest.description)
        let text = status.disagreement ?? ""
        #expect(text.contains(guest.description) && text.contains(libvirt.description) && text.contains("reset"))
    }

    @Test func aMigrationThatCarriedTheValueLeavesOnlyLibvirtsGenIDBehind() {
        let (booted, given) = (GenerationID.random(), GenerationID.random())
        var arrived = observation(live: booted, guest: given)
        arrived.qemuValue = given
        arrived.carriedValue = given
        let status = StatusReport.make(arrived, state: "running", readiness: nil, note: nil)
        #expect(status.libvirtValue == booted.description && status.qemuValue == given.description)
        #expect(status.carriedValue == given.description && status.disagreement == nil)
    }

    @Test func saysWhetherAMigrationWouldCarryTheGuestsValue() {
        let (booted, given) = (GenerationID.random(), GenerationID.random())
        var rotated = observation(live: booted, guest: given)
        rotated.qemuValue = booted
        rotated.carriedValue = given
        #expect(StatusReport.make(rotated, state: "running", readiness: nil, note: nil).disagreement?
            .contains("a live migration carries \(given)") == true)
        rotated.carriedValue = nil
        #expect(StatusReport.make(rotated, state: "running", readiness: nil, note: nil).disagreement?
            .contains("a live migration would show the guest \(booted)") == true)
    }

    @Test func unreadableGuestMemoryIsSaid() {
        let status = StatusReport.make(observation(live: .random(), guest: nil, error: "its RAM is not shared"),
                                       state: "running", readiness: nil, note: nil)
        #expect(status.disagreement?.contains("its RAM is not shared") == true)
        #expect(StatusReport.make(observation(live: nil, guest: nil, active: false), state: "shut off",
                                  readiness: nil, note: nil).disagreement == nil)
    }
}
