import GenIDHost
import GenerationStore
import GuestMemoryFixtures
import QMP
import Testing
import VMGenID

/// The rotation protocol against a scripted QEMU and guest RAM in memory:
/// the order of its steps, and the state every failure leaves the VM in.
/// The rule behind every expectation: the guest never runs after a state
/// load on a value it had before, and a value reaches it only once recorded.
@Suite("Rotator")
struct RotatorTests {
    let log = StepLog()
    let ram = ACPIImage().memory()
    let slot = UInt64(ACPIImage.pageAddress + 40)

    func fixture(runState: String = "running", dropWrites: Bool = false, storeUnavailable: Bool = false)
        -> (Rotator, ScriptedQEMU, LoggedStore) {
        let qemu = ScriptedQEMU(log: log, memory: ram, runState: runState)
        // The guest runs on QEMU's value, as after boot.
        ram.poke(qemu.deviceValue.guestBytes, at: Int(slot))
        var store = LoggedStore(log: log)
        store.unavailable = storeUnavailable
        let vm = AttachedVM(identity: VMIdentity(name: "vm1"), monitor: qemu,
                            memory: LoggedGuestMemory(ram, log: log, dropWrites: dropWrites))
        return (Rotator(vm: vm, store: store), qemu, store)
    }

    var guestValue: GenerationID { GenerationID(guestBytes: ram.peek(Int(slot), count: 16))! }

    // MARK: The order of the steps

    @Test func revertRecordsFirstThenStopsLoadsWritesAndResumes() async throws {
        let (rotator, qemu, store) = fixture()
        qemu.addSnapshot("base")
        let rotation = try await rotator.revert(to: "base")
        #expect(log.all == ["record", "stop", "loadvm", "write vmgenid", "cont"])
        #expect(qemu.runState == "running")
        #expect(guestValue == rotation.value && rotation.value != qemu.deviceValue)
        let record = try #require(try await store.latest(of: VMIdentity(name: "vm1"), role: .live))
        #expect(record.value == rotation.value && record.event == "revert" && record.detail == "base")
        #expect(record.origin == .issued)
        #expect(rotation.slot == "0x" + String(slot, radix: 16) && rotation.warnings.isEmpty)
        // Only the 16 bytes of the slot were written.
        #expect(ram.writes.withLock { $0 } == [slot..<slot + 16])
    }

    @Test func rotateSnapshotsWhilePausedThenLoadsItAndDeletesIt() async throws {
        let (rotator, qemu, _) = fixture()
        let before = guestValue
        let rotation = try await rotator.rotate()
        #expect(log.all == ["stop", "savevm", "record", "loadvm", "write vmgenid", "cont", "delvm"])
        #expect(qemu.runState == "running" && qemu.snapshots.isEmpty)
        #expect(guestValue == rotation.value && rotation.value != before)
    }

    @Test func restoreStopsBeforeTheIncomingLoad() async throws {
        let (rotator, qemu, _) = fixture(runState: "inmigrate")
        let rotation = try await rotator.restore(from: "/dev/null")
        // stop first clears QEMU's autostart: the guest cannot run between load and write.
        #expect(log.all == ["stop", "record", "migrate-incoming", "write vmgenid", "cont"])
        #expect(qemu.runState == "running" && guestValue == rotation.value)
    }

    @Test func saveKeepsTheRunStateAndGivesNoValue() async throws {
        let (rotator, qemu, store) = fixture()
        try await rotator.save(to: "/dev/null")
        #expect(log.all == ["stop", "migrate", "cont"])
        #expect(qemu.runState == "running")
        #expect(try await store.history().isEmpty)
    }

    // MARK: Failures before the load: the VM keeps running on its value

    @Test func aLedgerThatCannotRecordStopsNothing() async throws {
        let (rotator, qemu, _) = fixture(storeUnavailable: true)
        qemu.addSnapshot("base")
        let before = guestValue
        await #expect(throws: StoreError.self) { try await rotator.revert(to: "base") }
        #expect(log.all == ["record"])
        #expect(qemu.runState == "running" && guestValue == before)
    }

    @Test func aSnapshotThatCannotBeTakenResumesTheGuestUnchanged() async throws {
        let (rotator, qemu, store) = fixture()
        qemu.fail("savevm", with: .hmpOutput("Error: No block device can accept snapshots"))
        let before = guestValue
        let error = await #expect(throws: HostError.self) { try await rotator.rotate() }
        #expect("\(error!)".contains("cannot take internal snapshots"))
        #expect(log.all == ["stop", "savevm", "cont"])
        #expect(qemu.runState == "running" && guestValue == before)
        #expect(try await store.history().isEmpty)
    }

    @Test func restoreRefusesAQEMUThatIsNotWaitingForState() async throws {
        let (rotator, qemu, store) = fixture(runState: "running")
        await #expect(throws: HostError.self) { try await rotator.restore(from: "/dev/null") }
        #expect(log.all.isEmpty && qemu.runState == "running")
        #expect(try await store.history().isEmpty)
    }

    // MARK: Failures after the stop: the VM stays paused, the value stays recorded

    @Test func aFailedLoadLeavesTheVMPaused() async throws {
        let (rotator, qemu, store) = fixture()
        let error = await #expect(throws: HostError.self) { try await rotator.revert(to: "missing") }
        #expect("\(error!)".contains("was not resumed"))
        #expect(log.all == ["record", "stop", "loadvm"])
        #expect(qemu.runState == "paused")
        try await expectRecordedButNotGiven(store)
    }

    @Test func aMonitorErrorDuringTheLoadNeverStartsTheVM() async throws {
        let (rotator, qemu, store) = fixture(runState: "inmigrate")
        qemu.fail("migrate-incoming", with: .qmpError("Failed to read the state"))
        await #expect(throws: HostError.self) { try await rotator.restore(from: "/dev/null") }
        #expect(log.all == ["stop", "record", "migrate-incoming"])
        // Still waiting for a stream, with autostart cleared: the guest never ran.
        #expect(qemu.runState == "inmigrate")
        try await expectRecordedButNotGiven(store)
    }

    @Test func aSlotThatDoesNotHoldQEMUsValueIsNeverWritten() async throws {
        let (rotator, qemu, store) = fixture()
        qemu.addSnapshot("base")
        // After the load QEMU's value is elsewhere: the tables no longer say
        // where the page is (a guest that rewrote them).
        qemu.loadTarget.withLock { $0 = Int(slot) - 4096 }
        ram.poke(GenerationID.random().guestBytes, at: Int(slot))
        let error = await #expect(throws: HostError.self) { try await rotator.revert(to: "base") }
        #expect("\(error!)".contains("refusing to write"))
        #expect(log.all == ["record", "stop", "loadvm"])
        #expect(qemu.runState == "paused" && ram.writes.withLock { $0 }.isEmpty)
        try await expectRecordedButNotGiven(store)
    }

    @Test func aWriteThatDoesNotReadBackLeavesTheVMPaused() async throws {
        let (rotator, qemu, store) = fixture(dropWrites: true)
        qemu.addSnapshot("base")
        let error = await #expect(throws: HostError.self) { try await rotator.revert(to: "base") }
        #expect("\(error!)".contains("read back"))
        #expect(log.all == ["record", "stop", "loadvm", "write vmgenid"])
        #expect(qemu.runState == "paused" && guestValue == qemu.deviceValue)
        try await expectRecordedButNotGiven(store)
    }

    // MARK: After cont: the guest runs on the fresh value, whatever follows

    @Test func aTemporarySnapshotThatWillNotGoIsAWarningNotAFailure() async throws {
        let (rotator, qemu, store) = fixture()
        qemu.fail("delvm", with: .hmpOutput("Error: Snapshot is in use"))
        let rotation = try await rotator.rotate()
        #expect(log.all == ["stop", "savevm", "record", "loadvm", "write vmgenid", "cont", "delvm"])
        #expect(qemu.runState == "running" && guestValue == rotation.value)
        #expect(rotation.warnings.count == 1 && rotation.warnings[0].contains("left behind"))
        let trail = try await store.auditTrail(vm: "vm1", limit: nil)
        #expect(trail.map(\.kind) == ["rotation-leftover"])
    }

    /// The value was recorded before the stop and is in the audit trail as
    /// never given; the guest still has QEMU's value.
    private func expectRecordedButNotGiven(_ store: LoggedStore) async throws {
        let record = try #require(try await store.history().last)
        let trail = try await store.auditTrail(vm: "vm1", limit: nil)
        #expect(trail.count == 1 && trail[0].kind == "rotation-failed")
        #expect(trail[0].message.contains("\(record.value) was recorded but not given"))
        #expect(guestValue != record.value)
    }
}

/// Where QEMU's vmclock page is, from its `info mtree -f`.
@Suite struct VMClockDeviceTests {
    @Test func thePageIsFoundInQEMUsMemoryMap() throws {
        let tree = """
            FlatView #0
             AS "memory", root: system
             Root memory region: system
              0000000000000000-000000001fffffff (prio 0, ram): pc.ram
              00000000feffb000-00000000feffbfff (prio 0, ram): vmclock_page
              00000000fffc0000-00000000ffffffff (prio 0, rom): pc.bios
            """
        #expect(VMClockDevice.pageAddress(in: try QEMUMemoryMap(flatView: tree)) == 0xfeff_b000)
        let noPage = try QEMUMemoryMap(flatView: " AS \"memory\", root: system\n  0000000000000000-000000001fffffff (prio 0, ram): pc.ram")
        #expect(VMClockDevice.pageAddress(in: noPage) == nil)
        let short = try QEMUMemoryMap(flatView: " AS \"memory\", root: system\n  00000000feffb000-00000000feffb0ff (prio 0, ram): vmclock_page")
        #expect(VMClockDevice.pageAddress(in: short) == nil)
        #expect(throws: VMGenIDError.self) {
            try QEMUMemoryMap(flatView: " AS \"memory\", root: system\n  zz-yy (prio 0, ram): vmclock_page")
        }
    }
}
