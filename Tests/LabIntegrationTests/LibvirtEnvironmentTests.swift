import AgentProtocol
import Foundation
@testable import GenIDLab
import Libvirt
import Testing

extension LabIntegration {
    /// The lab under a real system libvirtd (qemu:///system): the lab sets
    /// libvirtd up itself, defines a domain from qemu/libvirt-domain.xml,
    /// talks to the guest agent over the channel libvirt bound, and sees
    /// libvirt's running snapshot revert give the guest a new VMGENID.
    /// Needs root and `make images`.
    @Suite(.serialized) struct LibvirtEnvironmentTests {
        @Test func qemuConfEditIsIdempotentAndKeepsTheRest() {
            let original = """
                # comment
                #security_driver = "selinux"
                security_driver = "apparmor"
                vnc_listen = "0.0.0.0"
                cgroup_controllers = [ "cpu",
                    "devices" ]
                user = "root"
                """
            let (edited, changes) = LibvirtQEMUConf.applying(LibvirtEnvironment.requiredQEMUSettings, to: original)
            #expect(changes.map(\.key) == ["security_driver", "cgroup_controllers", "group"])
            #expect(changes.first?.before == "security_driver = \"apparmor\"")
            #expect(edited.contains("\nsecurity_driver = \"none\"\n"))
            #expect(edited.contains("\ncgroup_controllers = [ ]\n"))
            #expect(edited.contains("\ngroup = \"root\"\n"))
            #expect(edited.contains("vnc_listen = \"0.0.0.0\""))
            #expect(edited.contains("#security_driver = \"selinux\""))
            #expect(!edited.contains("\n    \"devices\" ]"), "the old multi-line value must be commented out")
            let again = LibvirtQEMUConf.applying(LibvirtEnvironment.requiredQEMUSettings, to: edited)
            #expect(again.changes.isEmpty)
            #expect(again.text == edited)
        }

        /// Starting a daemon returns when `-d`'s parent exits, even while its
        /// child keeps running, and reports a failing start with its output.
        @Test func daemonStartDoesNotWaitForTheDaemon() async throws {
            let output = NSTemporaryDirectory() + "genid-lab-spawn-\(getpid()).out"
            defer { unlink(output) }
            let begin = ContinuousClock.now
            let status = try LibvirtDaemon.spawnAndWait(
                ["/bin/sh", "-c", "sleep 3 & echo started"], environment: [:], outputPath: output)
            #expect(status == 0)
            #expect(ContinuousClock.now - begin < .seconds(2))
            #expect(try String(contentsOfFile: output, encoding: .utf8) == "started\n")
            #expect(try LibvirtDaemon.spawnAndWait(["/bin/sh", "-c", "exit 3"], environment: [:], outputPath: output) == 3)

            // A second virtlogd cannot take the pid file: a clear error, no hang.
            _ = try await LibvirtEnvironment.ensure()
            #expect {
                _ = try LibvirtDaemon.start(executable: "/usr/sbin/virtlogd", name: "virtlogd",
                                            pidFile: "/run/virtlogd.pid", logPath: nil)
            } throws: { error in
                "\(error)".contains("virtlogd -d failed with status 1") && "\(error)".contains("pidfile")
            }
        }

        @Test func domainUnderLibvirtdRevertsToANewGenerationID() async throws {
            let environment = try await LibvirtEnvironment.ensure { print("libvirt: \($0)") }
            print("libvirt: ready after \(ms(environment.readyAfter)) ms; started libvirtd: "
                + "\(environment.startedLibvirtd.map(String.init) ?? "no"), restarted: \(environment.restartedLibvirtd), "
                + "qemu.conf changes: \(environment.configurationChanges)")
            // The configuration is in place now: a second pass changes nothing.
            let conf = try String(contentsOfFile: environment.options.qemuConfPath, encoding: .utf8)
            #expect(LibvirtQEMUConf.applying(LibvirtEnvironment.requiredQEMUSettings, to: conf).changes.isEmpty)
            #expect(LibvirtEnvironment.runningLibvirtd() != nil)

            let connection = try environment.connect()
            defer { connection.close() }
            let runRoot = "/dev/shm/genid-lab-test-\(UUID().uuidString.prefix(8))"
            defer { try? FileManager.default.removeItem(atPath: runRoot) }
            let settings = LabSettings(runRoot: runRoot)
            let image = try settings.imageBuilder.image(for: "6.1")

            let lab = try await LabDomain.define(LabDomainConfiguration(image: image), connection: connection,
                                                 runRoot: runRoot)
            let name = lab.name
            var qemuPids: [pid_t] = []
            do {
                #expect(name.hasPrefix("genid-lab-\(getpid())-"))
                #expect(try DomainXML.genID(in: lab.domain.xmlDescription(inactive: true)).value != nil,
                        "libvirt fills <genid/> at define time")
                try await lab.start()
                let bootToAgent = try await lab.waitForAgent(timeout: .seconds(90))
                print("libvirt: domain start to agent ping: \(ms(bootToAgent)) ms")

                // Channels: libvirt chose the paths; both are in the live XML.
                let agentSocket = try lab.agentSocketPath()
                let genidSocket = try lab.genidSocketPath()
                print("libvirt: agent channel \(agentSocket), genidd channel \(genidSocket)")
                #expect(agentSocket.hasPrefix("/var/lib/libvirt/qemu/channel/target/domain-"))
                // domain-<id>-<short name>: libvirt's short name is the first 20 characters.
                #expect(agentSocket.hasSuffix("-\(name.prefix(20))/org.genid.agent.0"))
                #expect(genidSocket == (agentSocket as NSString).deletingLastPathComponent + "/org.genid.genidd.0")
                #expect(isSocket(genidSocket))

                // The guest sees the value libvirt put in the live XML.
                let before = try await lab.ask(.status)
                let guestBefore = try #require(before[AgentStatusField.vmgenid], "status: \(before)")
                let liveBefore = try #require(try lab.liveGenerationID())
                #expect(guestBefore == liveBefore)
                #expect(before[AgentStatusField.kernelRelease] == image.kernel.release)

                // Guest RAM is a shared memfd QEMU holds open.
                let pid = try #require(lab.qemuPid(), "no QEMU pid in \(lab.qemuPidFile)")
                qemuPids.append(pid)
                let ramPath = try #require(lab.guestRAMPath(), "no memfd in /proc/\(pid)/fd")
                let ramTarget = try FileManager.default.destinationOfSymbolicLink(atPath: ramPath)
                print("libvirt: guest RAM \(ramPath) -> \(ramTarget)")
                #expect(ramTarget.hasPrefix("/memfd:memory-backend-memfd"))
                var ramStat = stat()
                #expect(stat(ramPath, &ramStat) == 0)
                #expect(ramStat.st_size == 512 * 1024 * 1024)

                // Running internal snapshot, then revert: libvirt starts a new QEMU with a new value.
                let domain = lab.domain
                let snapshotTime = try await timedBlocking { try domain.createSnapshot(named: "base") }
                #expect(try domain.snapshotNames() == ["base"])
                let revertTime = try await timedBlocking { try domain.revertToSnapshot(named: "base") }
                let reconnect = try await lab.reconnectAgent(timeout: .seconds(60))
                print("libvirt: snapshot \(ms(snapshotTime)) ms, revert \(ms(revertTime)) ms, "
                    + "agent again after \(ms(reconnect)) ms")
                let after = try await lab.ask(.status)
                let guestAfter = try #require(after[AgentStatusField.vmgenid], "status: \(after)")
                let liveAfter = try #require(try lab.liveGenerationID())
                #expect(guestAfter != guestBefore, "libvirt's revert must give the guest a new VMGENID")
                #expect(guestAfter == liveAfter)
                let newPid = try #require(lab.qemuPid())
                qemuPids.append(newPid)
                #expect(newPid != pid, "libvirt restarts QEMU on a running revert")
                #expect(try lab.agentSocketPath() != agentSocket, "the new QEMU has a new domain id")
                #expect(lab.guestRAMPath() != nil)
            } catch {
                await lab.tearDown()
                throw error
            }
            await lab.tearDown()

            // Nothing remains: domain, QEMU, files, libvirt's QEMU log.
            let names = try connection.allDomains().map(\.name)
            #expect(!names.contains(name))
            #expect(!names.contains { LabDomain.ownerPid(ofDomainNamed: $0) == getpid() })
            for pid in qemuPids { #expect(!processExists(pid), "QEMU \(pid) still runs") }
            #expect(!FileManager.default.fileExists(atPath: lab.qemuLogPath))
            #expect(!FileManager.default.fileExists(atPath: lab.qemuPidFile))
            let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: runRoot)) ?? []
            #expect(leftovers.isEmpty, "left behind: \(leftovers)")
            let channels = (try? FileManager.default.contentsOfDirectory(
                atPath: "/var/lib/libvirt/qemu/channel/target")) ?? []
            #expect(!channels.contains { $0.hasSuffix("-\(name.prefix(20))") }, "channel directories left: \(channels)")
        }

        /// `stop()` leaves alone a libvirtd it did not start; the `clean`
        /// sweep removes a lab domain whose owner is gone, and only that.
        @Test func stopSparesForeignDaemonAndSweepRemovesOrphans() async throws {
            let first = try await LibvirtEnvironment.ensure()
            let second = try await LibvirtEnvironment.ensure()
            #expect(second.startedLibvirtd == nil && second.startedVirtlogd == nil && !second.restartedLibvirtd)
            #expect(second.configurationChanges.isEmpty)
            let running = try #require(LibvirtEnvironment.runningLibvirtd())
            await second.stop()
            #expect(LibvirtEnvironment.runningLibvirtd() == running)
            _ = first

            // An orphan: a lab domain named after a pid that does not exist.
            let connection = try second.connect()
            defer { connection.close() }
            let orphan = "genid-lab-\(Int32.max - 7)-deadbeef"
            let mine = "genid-lab-\(getpid())-feedf00d"
            for name in [orphan, mine] {
                _ = try connection.defineDomain(xml: """
                    <domain type='qemu'><name>\(name)</name><memory unit='MiB'>64</memory>
                    <os><type arch='x86_64' machine='q35'>hvm</type></os></domain>
                    """)
            }
            defer { try? connection.domain(named: mine).undefine() }
            let swept = LabDomain.sweepStale(connection: connection)
            #expect(swept.contains(orphan))
            #expect(!swept.contains(mine))
            let names = try connection.allDomains().map(\.name)
            #expect(!names.contains(orphan))
            #expect(names.contains(mine))
        }
    }
}

private func ms(_ duration: Duration) -> Int {
    Int(Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15)
}

private func isSocket(_ path: String) -> Bool {
    var info = stat()
    return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFSOCK
}

/// Runs a blocking libvirt call off the cooperative pool and times it.
private func timedBlocking(_ work: @escaping @Sendable () throws -> Void) async throws -> Duration {
    let result = await offCooperativePool { () -> Result<Duration, any Error> in
        let begin = ContinuousClock.now
        return Result { try work(); return ContinuousClock.now - begin }
    }
    return try result.get()
}
