import Foundation
@testable import GenIDDaemon
import GenIDHost
import QMP
import Testing
import VMGenID

extension LabIntegration {
    /// genidctl and genidd reach guest RAM through QEMU's own memory map:
    /// NUMA nodes (one RAM block each) and the `pc` machine's 3 GiB below
    /// 4 GiB, where a layout assumed from q35 sends accesses to the wrong
    /// place. No kernel: SeaBIOS writes the ACPI tables, then boots a boot
    /// sector that halts with interrupts off, so guest RAM holds still and
    /// its checksum before and after a rotation must differ only in the
    /// 16 bytes of the value.
    @Suite(.serialized) struct GuestMemoryMapTests {
        static let numaRAM = ["-machine", "q35,accel=tcg", "-m", "512M",
                              "-object", "memory-backend-ram,id=ram-node0,size=256M",
                              "-numa", "node,nodeid=0,memdev=ram-node0",
                              "-object", "memory-backend-ram,id=ram-node1,size=256M",
                              "-numa", "node,nodeid=1,memdev=ram-node1"]
        static let numaMemfd = ["-machine", "q35,accel=tcg", "-m", "512M",
                                "-object", "memory-backend-memfd,id=ram-node0,size=256M,share=on",
                                "-numa", "node,nodeid=0,memdev=ram-node0",
                                "-object", "memory-backend-memfd,id=ram-node1,size=256M,share=on",
                                "-numa", "node,nodeid=1,memdev=ram-node1"]
        static let pc3584 = ["-machine", "pc,accel=tcg", "-m", "3584M"]

        @Test(.timeLimit(.minutes(3)), arguments: [numaRAM, numaMemfd, pc3584])
        func statusAndRotateThroughProcMem(machine: [String]) async throws {
            let qemu = try await HaltedQEMU.start(machine)
            defer { qemu.stop() }
            let cli = GenIDCtlTests.CLI(ledger: "\(qemu.directory)/ledger.sqlite")
            let target = ["--qmp", qemu.qmpSocket, "--pid", String(qemu.pid), "--name", "vm"]
            let status = try await cli.json(["qemu", "status"] + target)
            #expect(status["guest_value"] == qemu.value.description, "\(status)")
            #expect(status["qemu_value"] == qemu.value.description)

            let before = try await qemu.ramChecksum(source: .qemuProcess(pid: qemu.pid))
            let rotate = try await cli.json(["qemu", "rotate"] + target)
            let rotated = try #require(rotate["value"].flatMap(GenerationID.init), "\(rotate)")
            #expect(rotated != qemu.value)
            #expect(try await cli.json(["qemu", "status"] + target)["guest_value"] == rotated.description)
            let after = try await qemu.ramChecksum(source: .qemuProcess(pid: qemu.pid))
            #expect(after.slot == before.slot)
            #expect(after.value == rotated)
            #expect(after.checksum == before.checksum, "guest RAM outside the value changed")
        }

        /// The shared file is one memory backend; its ranges are found by
        /// the backend's mem-path and lie in the file at their @OFFSET.
        @Test(.timeLimit(.minutes(3)))
        func statusAndRotateThroughTheSharedFile() async throws {
            let file = "/dev/shm/genid-map-\(UUID().uuidString.prefix(8)).ram"
            defer { try? FileManager.default.removeItem(atPath: file) }
            let qemu = try await HaltedQEMU.start(["-machine", "pc,accel=tcg,memory-backend=mem", "-m", "3584M",
                                                   "-object", "memory-backend-file,id=mem,size=3584M,mem-path=\(file),share=on"])
            defer { qemu.stop() }
            let cli = GenIDCtlTests.CLI(ledger: "\(qemu.directory)/ledger.sqlite")
            let target = ["--qmp", qemu.qmpSocket, "--ram-file", file, "--name", "vm"]
            #expect(try await cli.json(["qemu", "status"] + target)["guest_value"] == qemu.value.description)
            let before = try await qemu.ramChecksum(source: .sharedFile(file))
            let rotated = try #require(try await cli.json(["qemu", "rotate"] + target)["value"].flatMap(GenerationID.init))
            let after = try await qemu.ramChecksum(source: .sharedFile(file))
            #expect(after.value == rotated && after.slot == before.slot)
            #expect(after.checksum == before.checksum, "guest RAM outside the value changed")
            // A file that is no backend of this QEMU is refused, not guessed at.
            let stray = "\(qemu.directory)/stray.ram"
            _ = FileManager.default.createFile(atPath: stray, contents: Data(count: 1 << 20))
            let refused = try await cli.run(["qemu", "status", "--qmp", qemu.qmpSocket, "--ram-file", stray])
            #expect(refused.status != 0)
            #expect(refused.errors.contains("no memory-backend-file of this QEMU has it as mem-path"), "\(refused.errors)")
        }

        /// genidd's way in: one mapped memfd per NUMA node, each found by
        /// the inode of the mapping that holds its ranges' host addresses.
        @Test(.timeLimit(.minutes(2)))
        func genidMapsEachNodesMemfd() async throws {
            let qemu = try await HaltedQEMU.start(Self.numaMemfd)
            defer { qemu.stop() }
            let monitor = try await QMPClient.connect(unixSocketPath: qemu.qmpSocket, timeout: .seconds(10))
            let memory = try await DomainMemory.sharedMemory(pid: qemu.pid, monitor: monitor, domain: "vm", refresh: true)
            await monitor.close()
            let combined = try #require(memory as? CombinedGuestMemory)
            #expect(combined.parts.count == 2 && combined.parts.allSatisfy { $0 is MappedRAMFile })
            let slot = try ACPIWalk.locateVMGenID(in: combined).slot
            #expect(try combined.readValue(at: slot) == qemu.value)
            // Node 1's tables through node 1's memfd: the same bytes QEMU's /proc/PID/mem shows.
            let viaProcess = try await qemu.withMonitor { try await GuestMemorySource.qemuProcess(pid: qemu.pid).open(using: $0) }
            let node1 = try #require(combined.parts[1].layout.regions.first)
            #expect(try combined.read(at: node1.guestPhysicalStart, count: 4096)
                    == viaProcess.read(at: node1.guestPhysicalStart, count: 4096))
        }
    }
}

/// A QEMU with `-device vmgenid`, no kernel: SeaBIOS writes the ACPI tables
/// and boots a qcow2 disk (snapshots need one) whose boot sector halts.
struct HaltedQEMU {
    let process: Process
    let directory: String
    let value: GenerationID
    var qmpSocket: String { "\(directory)/qmp.sock" }
    var pid: Int32 { process.processIdentifier }

    static func start(_ machine: [String]) async throws -> HaltedQEMU {
        let directory = "/tmp/genid-map-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // cli; hlt; jmp back to hlt. Nothing runs after it, nothing writes guest RAM.
        var sector = [UInt8](repeating: 0, count: 1 << 20)
        sector.replaceSubrange(0..<4, with: [0xfa, 0xf4, 0xeb, 0xfd])
        sector[510] = 0x55
        sector[511] = 0xaa
        _ = FileManager.default.createFile(atPath: "\(directory)/boot.raw", contents: Data(sector))
        let convert = Process()
        convert.executableURL = URL(fileURLWithPath: "/usr/bin/qemu-img")
        convert.arguments = ["convert", "-q", "-f", "raw", "-O", "qcow2", "\(directory)/boot.raw", "\(directory)/disk.qcow2"]
        try convert.run()
        await offCooperativePool { convert.waitUntilExit() }
        let value = GenerationID.random()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ProcessInfo.processInfo.environment["QMP_TEST_QEMU"]
                                    ?? "/usr/bin/qemu-system-x86_64")
        process.arguments = machine + [
            "-nodefaults", "-display", "none", "-device", "vmgenid,guid=\(value)",
            "-drive", "file=\(directory)/disk.qcow2,if=none,id=disk0,format=qcow2",
            "-device", "virtio-blk-pci,drive=disk0",
            "-chardev", "socket,id=qmp,path=\(directory)/qmp.sock,server=on,wait=off", "-mon", "chardev=qmp,mode=control",
        ]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let qemu = HaltedQEMU(process: process, directory: directory, value: value)
        // SeaBIOS has booted the sector once the CPU sits at 0x7c01 (its hlt).
        for _ in 0..<100 {
            try await Task.sleep(for: .milliseconds(200))
            let registers = try? await qemu.withMonitor { try await $0.humanMonitorCommand("info registers") }
            if registers?.contains("EIP=00007c02") == true || registers?.contains("EIP=00007c01") == true {
                return qemu
            }
        }
        qemu.stop()
        throw HaltedQEMUError.didNotBoot
    }

    func withMonitor<T>(_ body: (QMPClient) async throws -> T) async throws -> T {
        let client = try await QMPClient.connect(unixSocketPath: qmpSocket, retryUntil: .now + .seconds(10))
        do {
            let result = try await body(client)
            await client.close()
            return result
        } catch {
            await client.close()
            throw error
        }
    }

    /// A checksum of all guest RAM, read through QEMU's map, with the 16
    /// bytes of the value zeroed; and the slot and the value.
    func ramChecksum(source: GuestMemorySource) async throws -> (checksum: Int, slot: UInt64, value: GenerationID) {
        let memory = try await withMonitor { try await source.open(using: $0) }
        let slot = try ACPIWalk.locateVMGenID(in: memory).slot
        var hasher = Hasher()
        let chunk: UInt64 = 1 << 20
        for region in memory.layout.regions {
            var done: UInt64 = 0
            while done < region.length {
                let address = region.guestPhysicalStart + done
                let count = min(chunk, region.length - done)
                var bytes = try memory.read(at: address, count: Int(count))
                if slot.address >= address, slot.address - address < count {
                    let start = Int(slot.address - address)
                    for index in start..<min(start + 16, bytes.count) { bytes[index] = 0 }
                }
                bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
                done += count
            }
        }
        return (hasher.finalize(), slot.address, try memory.readValue(at: slot))
    }

    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

enum HaltedQEMUError: Error {
    case didNotBoot
}
