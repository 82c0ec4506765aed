import Testing
@testable import GenIDLab

@Suite struct MachineConfigurationTests {
    let image = GuestImage(
        kernel: GuestKernel(release: "6.1.0-56-amd64", imagePath: "/boot/vmlinuz-6.1.0-56-amd64",
                            modulesDirectory: "/lib/modules/6.1.0-56-amd64"),
        initramfsPath: "/cache/initramfs.cpio", rebuilt: false)

    @Test func argumentsShareGuestRAMAndAddTheDevices() {
        var configuration = MachineConfiguration(image: image)
        configuration.initialGenerationID = "11223344-5566-7788-99aa-bbccddeeff00"
        let arguments = configuration.qemuArguments(in: RunDirectory(path: "/run/x")).joined(separator: " ")
        #expect(arguments.contains("-machine q35,accel=tcg,memory-backend=mem"))
        #expect(arguments.contains("memory-backend-file,id=mem,size=512M,mem-path=/run/x/ram,share=on"))
        #expect(arguments.contains("-device vmgenid,id=vgid0,guid=11223344-5566-7788-99aa-bbccddeeff00"))
        #expect(arguments.contains("-cpu max"))
        #expect(arguments.contains("file=/run/x/disk.qcow2,if=none,id=disk0,format=qcow2"))
        #expect(arguments.contains("socket,id=qmp,path=/run/x/qmp.sock,server=on,wait=off"))
        #expect(arguments.contains("name=org.genid.agent.0"))
        #expect(arguments.contains("-serial file:/run/x/console.log"))
    }

    @Test func extraAgentPortsGetTheirOwnSocketsOnTheSameBus() {
        var configuration = MachineConfiguration(image: image)
        #expect(!configuration.qemuArguments(in: RunDirectory(path: "/r")).joined(separator: " ").contains("agent1"))
        configuration.extraAgentPorts = ["org.genid.genidd.0"]
        let directory = RunDirectory(path: "/run/x")
        let arguments = configuration.qemuArguments(in: directory).joined(separator: " ")
        #expect(directory.agentSocket(port: "org.genid.genidd.0") == "/run/x/agent-org.genid.genidd.0.sock")
        #expect(directory.agentSocket(port: "a/b c") == "/run/x/agent-a_b_c.sock")
        #expect(arguments.contains("-chardev socket,id=agent,path=/run/x/agent.sock,server=on,wait=off"))
        #expect(arguments.contains("-chardev socket,id=agent1,path=/run/x/agent-org.genid.genidd.0.sock,server=on,wait=off"))
        #expect(arguments.contains("-device virtserialport,bus=vser0.0,chardev=agent1,name=org.genid.genidd.0"))
        #expect(arguments.contains("name=org.genid.agent.0"))
    }

    /// One private RAM block per NUMA node, no shared file; or another machine type.
    @Test func numaNodesAndMachineType() {
        var configuration = MachineConfiguration(image: image)
        configuration.numaNodesMiB = [256, 256]
        let numa = configuration.qemuArguments(in: RunDirectory(path: "/run/x")).joined(separator: " ")
        #expect(numa.contains("-machine q35,accel=tcg -cpu"))
        #expect(numa.contains("-object memory-backend-ram,id=ram-node0,size=256M -numa node,nodeid=0,memdev=ram-node0"))
        #expect(numa.contains("-object memory-backend-ram,id=ram-node1,size=256M -numa node,nodeid=1,memdev=ram-node1"))
        #expect(!numa.contains("memory-backend-file"))
        configuration.numaNodesMiB = []
        configuration.machineType = "pc"
        configuration.memoryMiB = 3584
        let pc = configuration.qemuArguments(in: RunDirectory(path: "/run/x")).joined(separator: " ")
        #expect(pc.contains("-machine pc,accel=tcg,memory-backend=mem"))
        #expect(pc.contains("memory-backend-file,id=mem,size=3584M,mem-path=/run/x/ram,share=on"))
    }

    @Test func kvmIsOnlyUsedWhenAsked() {
        var configuration = MachineConfiguration(image: image)
        #expect(configuration.qemuArguments(in: RunDirectory(path: "/r")).contains("q35,accel=tcg,memory-backend=mem"))
        configuration.accelerator = .kvm
        #expect(configuration.qemuArguments(in: RunDirectory(path: "/r")).contains("q35,accel=kvm,memory-backend=mem"))
    }
}

@Suite struct LabReportTests {
    @Test func passesOnlyWithChecksAllPassedAndNoError() {
        var report = LabReport(scenario: "boot", backend: "qemu")
        report.conclude()
        #expect(!report.passed, "no checks is not a pass")
        report.check("a", true)
        report.conclude()
        #expect(report.passed)
        report.check("b", false, "why")
        report.conclude()
        #expect(!report.passed)
        var stopped = LabReport(scenario: "boot", backend: "qemu")
        stopped.check("a", true)
        stopped.error = "agent timeout"
        stopped.conclude()
        #expect(!stopped.passed)
    }

    @Test func jsonUsesTheDocumentedFieldNames() throws {
        var report = LabReport(scenario: "boot", backend: "qemu")
        report.guestKernel = "6.1.0-56-amd64"
        report.baselineGuid = "5a67d7c6-9ab9-449b-a758-be75b197648d"
        report.timingsMs["boot_to_agent"] = 7123
        report.restores.append(LabReport.Restore(hostGuid: "h", guestGuid: "g", guestObservedChange: true,
                                                 sysgenidBefore: 0, sysgenidAfter: 1, elapsedMs: 1, readerBlocking: 1))
        report.check("c", true)
        report.conclude()
        let json = report.json()
        for key in ["\"scenario\"", "\"passed\"", "\"backend\"", "\"guest_kernel\"", "\"baseline_guid\"",
                    "\"restores\"", "\"host_guid\"", "\"guest_guid\"", "\"guest_observed_change\"",
                    "\"elapsed_ms\"", "\"checks\"", "\"timings_ms\"", "\"boot_to_agent\"",
                    "\"reader_blocking\" : 1", "\"reader_poll\" : null", "\"reader_mmap\" : null"] {
            #expect(json.contains(key), "missing \(key)")
        }
        let decoded = try LabReport.decode(Data(json.utf8))
        #expect(decoded.passed)
        #expect(decoded.timingsMs["boot_to_agent"] == 7123)
        #expect(decoded.restores.first?.readerBlocking == 1 && decoded.restores.first?.readerPoll == nil)
    }
}

import Foundation
