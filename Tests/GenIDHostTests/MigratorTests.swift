import GenIDHost
import GenerationStore
import GuestMemoryFixtures
import Testing
import VMGenID

/// Live migration through genid: the guest keeps the value it has, though
/// the destination's vmgenid device writes its own, older one at the load.
@Suite("Migrator")
struct MigratorTests {
    let log = StepLog()
    let slot = Int(ACPIImage.pageAddress + 40)
    let sourceRAM = ACPIImage().memory()
    let destinationRAM = ACPIImage().memory()
    /// What genid gave the guest earlier: not what either device holds.
    let current = GenerationID.random()

    func fixture(destinationState: String = "inmigrate") -> (Migrator, ScriptedQEMU, ScriptedQEMU, LoggedStore) {
        let sourceQEMU = ScriptedQEMU(log: log, memory: sourceRAM, label: "source")
        sourceRAM.poke(current.guestBytes, at: slot)
        let destinationQEMU = ScriptedQEMU(log: log, memory: destinationRAM, runState: destinationState,
                                           label: "destination")
        // The migration stream carries guest RAM; the load then puts the
        // device's own value over it (ScriptedQEMU's loadState).
        destinationRAM.poke(current.guestBytes, at: slot)
        let store = LoggedStore(log: log)
        let vm = VMIdentity(name: "vm1")
        let source = AttachedVM(identity: vm, monitor: sourceQEMU, memory: sourceRAM)
        let destination = AttachedVM(identity: vm, monitor: destinationQEMU,
                                     memory: LoggedGuestMemory(destinationRAM, log: log, label: "destination"))
        return (Migrator(source: source, destination: destination, store: store), sourceQEMU, destinationQEMU, store)
    }

    var destinationValue: GenerationID { GenerationID(guestBytes: destinationRAM.peek(slot, count: 16))! }

    @Test func theGuestKeepsItsValueAcrossTheMigration() async throws {
        let (migrator, source, destination, store) = fixture()
        let migration = try await migrator.migrate(uri: "unix:/run/vm1/migrate.sock")
        #expect(log.all == ["destination stop", "destination migrate-incoming", "source migrate",
                            "destination write vmgenid", "destination cont"])
        #expect(destinationValue == current && migration.value == current)
        #expect(migration.destinationDeviceValue == destination.deviceValue && destination.deviceValue != current)
        #expect(destination.runState == "running" && source.runState == "postmigrate")
        // A move, not a new generation: no value recorded, one audit entry.
        #expect(try await store.history().isEmpty)
        #expect(try await store.auditTrail(vm: "vm1", limit: nil).map(\.kind) == ["migrated"])
    }

    @Test func aDestinationThatIsNotWaitingIsRefusedBeforeAnythingMoves() async throws {
        let (migrator, source, _, _) = fixture(destinationState: "running")
        await #expect(throws: HostError.self) { try await migrator.migrate(uri: "unix:/run/vm1/migrate.sock") }
        #expect(log.all.isEmpty && source.runState == "running")
    }

    @Test func aDestinationWhoseDeviceIsNotWhereTheTablesSayStaysPaused() async throws {
        let (migrator, _, destination, store) = fixture()
        destination.loadTarget.withLock { $0 = slot - 4096 }
        let error = await #expect(throws: HostError.self) {
            try await migrator.migrate(uri: "unix:/run/vm1/migrate.sock")
        }
        #expect("\(error!)".contains("was not resumed"))
        #expect(destination.runState == "paused" && !log.all.contains("destination cont"))
        #expect(try await store.auditTrail(vm: "vm1", limit: nil).map(\.kind) == ["migration-failed"])
    }
}
