import Foundation
import GenIDControl
import GenIDLab
import SQLiteGenerationStore
import VMGenID
import Libvirt
import Synchronization
import Testing

extension LabIntegration {
    /// The libvirt scenarios through the real genid-lab executable: a real
    /// libvirtd the lab configures, real QEMU under it, real genidd, real
    /// guest kernels.
    @Suite(.serialized) struct LibvirtScenarioTests {
        @Test(arguments: TestKernels.all)
        func revertThreeTimes(kernel: String) async throws {
            let report = try await runScenario(["libvirt-revert", "--count", "3", "--kernel", kernel])
            #expect(report.restores.count == 3)
            expectDistinctGuestValues(report)
        }

        /// `virsh shutdown` of the lab's own guest: its acpid powers it off.
        @Test func virshShutdownPowersTheGuestOff() async throws {
            let report = try await runScenario(["libvirt-shutdown", "--kernel", TestKernels.primary])
            #expect(report.timingsMs["shutdown"] != nil)
            #expect(report.checks.contains { $0.name == "libvirt records a shutdown by the guest" && $0.passed })
        }

        @Test func restoreOneStateThreeTimes() async throws {
            let report = try await runScenario(["libvirt-restore", "--count", "3", "--kernel", TestKernels.primary])
            #expect(report.restores.count == 3)
            expectDistinctGuestValues(report)
        }

        @Test func cloneGetsAFreshValueBeforeItRuns() async throws {
            let report = try await runScenario(["libvirt-clone", "--kernel", TestKernels.primary])
            #expect(report.restores.count == 1)
            #expect(report.restores.first?.guestGuid != report.baselineGuid)
        }

        @Test func inactiveRevertThenStartIsANewGeneration() async throws {
            let report = try await runScenario(["libvirt-inactive-revert", "--kernel", TestKernels.primary])
            #expect(report.restores.first?.guestGuid != report.baselineGuid)
        }

        @Test func waitReadyWaitsForASlowWatcher() async throws {
            let report = try await runScenario(["libvirt-readiness", "--kernel", TestKernels.primary])
            #expect((report.timingsMs["revert_start_to_ready"] ?? 0) >= 2000)
        }

        @Test func reconciliationCatchesWhatHappenedWhileGeniddWasDown() async throws {
            let report = try await runScenario(["libvirt-genidd-down", "--kernel", TestKernels.primary])
            #expect(report.restores.count == 2)
            expectDistinctGuestValues(report)
        }

        /// A rotation in the QEMU process, then guest resets: the guest
        /// never runs with its older value again.
        @Test(arguments: TestKernels.all)
        func aResetAfterARotationKeepsTheRotatedValue(kernel: String) async throws {
            let report = try await runScenario(["reboot-after-rotate", "--kernel", kernel])
            #expect(report.restores.count == 2)
        }

        /// genidd on a fleet ledger whose PostgreSQL server stops during a
        /// revert and starts again (the scenario's own server).
        @Test func aFleetLedgerOutageGivesNothingAndRecoversByItself() async throws {
            let report = try await runScenario(["fleet-outage", "--kernel", TestKernels.primary])
            #expect(report.restores.count == 1)
            #expect((report.timingsMs["refusal"] ?? .infinity) < 30_000)
            expectDistinctGuestValues(report)
        }

        /// libvirt's revert against genidctl's through genidd; the benchmark
        /// also checks the guest sees every genidctl revert and rotate.
        @Test func benchmarkRunsAndGenidctlRevertsAreSeen() async throws {
            let result = try await LabProcess.runBenchmark(["libvirt-revert", "--rounds", "3", "--kernel", TestKernels.primary],
                                                           as: LibvirtRevertBenchmark.Result.self)
            #expect(result.genidctlMilliseconds.count == 3 && result.libvirtMilliseconds.count == 3)
            #expect(result.ratio > 0)
            #expect(try labDomains().isEmpty)
        }

        /// Runs one scenario, requires it passed and left nothing (no QEMU,
        /// no run files, no lab domain), and no value twice in the ledger.
        private func runScenario(_ arguments: [String]) async throws -> LabReport {
            let report = try await LabProcess.runPassingScenario(arguments)
            #expect(report.backend == "libvirt")
            #expect(try labDomains().isEmpty, "lab domains left in libvirt")
            return report
        }

        private func expectDistinctGuestValues(_ report: LabReport) {
            let values = report.restores.compactMap(\.guestGuid) + [report.baselineGuid].compactMap { $0 }
            #expect(Set(values).count == values.count, "a value repeats: \(values)")
        }
    }

    /// genidd killed (SIGKILL) at random moments while libvirt reverts a
    /// guest, and started again: no revert goes unrecorded, no value twice.
    @Suite(.serialized) struct GeniddKillTests {
        @Test func killingGeniddAtRandomLosesNoRotation() async throws {
            let runRoot = "/dev/shm/genid-lab-test-\(UUID().uuidString.prefix(8))"
            defer { try? FileManager.default.removeItem(atPath: runRoot) }
            let settings = LabSettings(runRoot: runRoot, kernel: TestKernels.primary)
            let kills = KillLog()
            var scenario = LibvirtRevertScenario(settings: settings, mode: .revert, count: 6)
            scenario.disturbance = { genidd in
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(Int.random(in: 300...4000)))
                    if Task.isCancelled { break }
                    genidd.kill9()
                    kills.add()
                    try? await Task.sleep(for: .milliseconds(Int.random(in: 0...1500)))
                    try? await genidd.start()
                }
            }
            let report = await scenario.run()
            #expect(report.passed, "\(report.summary())")
            #expect(kills.count >= 1, "genidd was never killed")
            #expect(report.restores.count == 6)
            let values = report.restores.compactMap(\.guestGuid)
            #expect(Set(values).count == 6 && !values.contains(report.baselineGuid ?? ""))
            let ledger = try SQLiteGenerationStore(path: settings.ledgerPath)
            #expect(try await ledger.duplicateValues().isEmpty)
            for value in values {
                #expect(try await ledger.owner(of: #require(GenerationID(value))) != nil, "\(value) is not in the ledger")
            }
            #expect(try labDomains().isEmpty)
            print("genidd kill test: \(kills.count) kills over \(report.restores.count) reverts")
        }
    }

    /// The control socket against a real genidd: root and the control group
    /// only, by file mode and by the peer's credentials.
    @Suite(.serialized) struct ControlSocketAccessTests {
        @Test func unprivilegedUsersAreRefused() async throws {
            let fixture = try await GeniddFixture.start(controlGroup: "users")
            defer { fixture.tearDown() }
            let genidd = fixture.genidd
            let genidctl = LabProcess.binary("genidctl")
            let users = "100"  // Debian's "users" group

            // The socket is 0660 root:users: nobody outside the group cannot even connect.
            let outsider = try await runCommand(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
                                          genidctl, "status", "--socket", genidd.socketPath])
            #expect(outsider.status == 3)
            #expect(outsider.errors.contains("permission denied"))

            let member = try await runCommand(["setpriv", "--reuid", "65534", "--regid", "65534", "--groups", users,
                                        genidctl, "status", "--json", "--socket", genidd.socketPath])
            #expect(member.status == 0, "\(member.errors)")
            #expect(member.output.contains("\"ok\":true"))

            // With the file mode loosened, genidd still checks the peer's credentials.
            chmod(genidd.socketPath, 0o666)
            let loosened = try await runCommand(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
                                          genidctl, "status", "--socket", genidd.socketPath])
            #expect(loosened.status == 1)
            #expect(loosened.errors.contains("permission denied"))
            #expect(genidd.log(lines: 200).contains("control connection refused"))

            // Root still gets in.
            #expect(try genidd.send(ControlRequest(command: .status)).ok)
        }
    }
}

extension LabIntegration {
    /// libvirtd restarts under a running genidd: genidd notices, reconnects
    /// and reconciles, and answers again.
    @Suite(.serialized) struct LibvirtdRestartTests {
        @Test func geniddReconnectsAfterLibvirtdRestarts() async throws {
            let fixture = try await GeniddFixture.start()
            defer { fixture.tearDown() }
            let genidd = fixture.genidd
            let pid = try #require(LibvirtEnvironment.runningLibvirtd())
            kill(pid, SIGTERM)
            var down = false
            for _ in 0..<100 where !down {
                try await Task.sleep(for: .milliseconds(100))
                down = (try? genidd.send(ControlRequest(command: .status)))?.ok == false
            }
            #expect(down, "genidd still reports a libvirt connection after libvirtd stopped")
            // wait-ready without libvirt waits for it within its limit, then says why it could not answer.
            let waitStarted = ContinuousClock.now
            let waited = try genidd.send(ControlRequest(command: .waitReady, domain: "genid-lab-none", timeoutSeconds: 1.5))
            let waitedFor = ContinuousClock.now - waitStarted
            #expect(!waited.ok && waited.error?.contains("not connected") == true, "\(waited)")
            #expect(waitedFor >= .milliseconds(1400), "wait-ready gave up after \(waitedFor) instead of waiting for libvirt")
            _ = try await LibvirtEnvironment.ensure()
            var back = false
            for _ in 0..<200 where !back {
                try await Task.sleep(for: .milliseconds(100))
                back = (try? genidd.send(ControlRequest(command: .status)))?.ok == true
            }
            #expect(back, "genidd did not reconnect: \(genidd.log(lines: 10))")
            let log = genidd.log(lines: 500)
            #expect(log.contains("libvirt connection lost") || log.contains("libvirt unavailable"))
            #expect(log.components(separatedBy: "connected to libvirt").count >= 3)
            #expect(genidd.isRunning)
        }
    }
}

extension LabIntegration {
    /// genidd's Prometheus endpoint and its graceful shutdown, on the real binary.
    @Suite(.serialized) struct GeniddServiceTests {
        @Test func metricsAreServedAndSIGTERMStopsCleanly() async throws {
            let port = Int.random(in: 20000...40000)
            let fixture = try await GeniddFixture.start(metricsAddress: "127.0.0.1:\(port)")
            defer { fixture.tearDown() }
            let (genidd, environment) = (fixture.genidd, fixture.environment)
            _ = try genidd.send(ControlRequest(command: .status))
            let (status, text) = try loopbackGET(port: port, path: "/metrics")
            #expect(status == 200)
            #expect(text.contains("genid_libvirt_connected 1"), "\(text)")
            #expect(text.contains(#"genid_control_requests_total{command="status",result="ok"}"#), "\(text)")
            #expect(try loopbackGET(port: port, path: "/nope").status == 404)

            // A domain without <genid>: status flags it, `genidctl libvirt enable` adds it.
            let connection = try environment.connect()
            defer { connection.close() }
            let name = "\(LabDomain.namePrefix)\(getpid())-enable"
            let domain = try connection.defineDomain(xml: """
                <domain type='qemu'><name>\(name)</name><memory unit='MiB'>64</memory>
                <os><type arch='x86_64' machine='q35'>hvm</type></os></domain>
                """)
            defer { try? domain.undefine() }
            let before = try #require(try genidd.send(ControlRequest(command: .status, domain: name)).status?.first)
            #expect(!before.hasGenID)
            #expect(before.lastError?.contains("genidctl libvirt enable") == true)
            let genidctl = LabProcess.binary("genidctl")
            let enable = try await runCommand([genidctl, "libvirt", "enable", name])
            #expect(enable.status == 0 && enable.output.contains("<genid/> added"), "\(enable.output)\(enable.errors)")
            let value = try DomainXML.genID(in: try domain.xmlDescription(inactive: true)).value
            #expect(value != nil, "libvirt did not fill in the value")
            let again = try await runCommand([genidctl, "libvirt", "enable", name])
            #expect(again.status == 0 && again.output.contains("already"))
            let after = try #require(try genidd.send(ControlRequest(command: .status, domain: name)).status?.first)
            #expect(after.hasGenID && after.persistentValue == value)

            #expect(genidd.stop() == 0)
            #expect(!FileManager.default.fileExists(atPath: genidd.socketPath), "the control socket was left behind")
            #expect(genidd.log(lines: 5).contains("genidd stopped"))
        }
    }
}

/// Runs a command (through env, so PATH applies); its exit status and output.
func runCommand(_ argv: [String]) async throws -> (status: Int32, output: String, errors: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = argv
    let (stdout, stderr) = (Pipe(), Pipe())
    process.standardOutput = stdout
    process.standardError = stderr
    process.standardInput = FileHandle.nullDevice
    try process.run()
    return await offCooperativePool {
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let errors = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self),
                String(decoding: errors, as: UTF8.self))
    }
}

/// libvirt domains whose name marks them as the lab's.
func labDomains() throws -> [String] {
    let connection = try Connection.open("qemu:///system")
    defer { connection.close() }
    return try connection.allDomains().map(\.name).filter { $0.hasPrefix(LabDomain.namePrefix) }
}

final class KillLog: Sendable {
    private let kills = Mutex(0)
    func add() { kills.withLock { $0 += 1 } }
    var count: Int { kills.withLock { $0 } }
}
