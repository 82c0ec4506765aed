import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import GenIDLab
import Testing

extension LabIntegration {
    /// `genid-lab check` through the real executable: real guests (the
    /// lab's busybox image with Debian's qemu-ga, the Debian image with
    /// systemd and its own qemu-guest-agent, and guests built here that
    /// cannot boot or have no agent), probes run by the QEMU guest agent.
    @Suite(.serialized) struct CheckTests {
        static let urandom = "urandom=head -c 16 /dev/urandom | od -An -tx1"
        static let kernelUUID = "kernel-uuid=cat /proc/sys/kernel/random/uuid"
        /// Four clones with genid: the kernel's randomness and UUIDs differ
        /// in each; a PRNG seeded before the snapshot repeats itself in all
        /// four, and the same program reseeding on a new sysgenid
        /// generation does not. The JUnit file says so to a CI system, and
        /// --keep leaves only the colliding clones' consoles.
        @Test func clonesOfTheLabGuestAndTheResidentPRNG() async throws {
            let junit = FileManager.default.temporaryDirectory.appendingPathComponent("check-\(UUID().uuidString).xml").path
            defer { try? FileManager.default.removeItem(atPath: junit) }
            let (status, report, _) = try await runCheck([
                "--clones", "4", "--probe", CheckTests.urandom, "--probe", CheckTests.kernelUUID,
                // The resident PRNG (sysgenidctl prng-example) twice,
                // as Documentation/check.md shows it, each asked once it has
                // made its FIFOs.
                "--resident", "sysgenidctl prng-example /run/once",
                "--resident", "sysgenidctl prng-example /run/reseeding --reseed",
                "--probe", "once=until [ -p /run/once/reply ]; do sleep 1; done; echo > /run/once/request; cat /run/once/reply",
                "--probe",
                "reseeding=until [ -p /run/reseeding/reply ]; do sleep 1; done; echo > /run/reseeding/request; cat /run/reseeding/reply",
                "--keep", "--junit", junit,
            ])
            #expect(status == 1, "the seeded-once PRNG must fail the check")
            let verdicts = Dictionary(uniqueKeysWithValues: (report.probes ?? []).map { ($0.probe, $0) })
            for name in ["urandom", "kernel-uuid", "reseeding"] {
                let verdict = try #require(verdicts[name])
                #expect(verdict.passed && verdict.outputs.count == 4, "\(name): \(verdict.summary)")
                #expect(Set(verdict.outputs.compactMap(\.output)).count == 4)
            }
            let prng = try #require(verdicts["once"])
            #expect(!prng.passed && prng.collisions == [["clone-1", "clone-2", "clone-3", "clone-4"]], "\(prng.collisions)")
            #expect(report.restores.compactMap(\.hostGuid).count == 4)

            let kept = try #require(report.consoleLog, "--keep kept nothing")
            defer { try? FileManager.default.removeItem(atPath: kept) }
            #expect(try FileManager.default.contentsOfDirectory(atPath: kept).sorted()
                        == (1...4).map { "clone-\($0).console.log" })

            let root = try #require(try XMLDocument(data: Data(contentsOf: URL(fileURLWithPath: junit))).rootElement())
            let suite = try #require(root.elements(forName: "testsuite").first)
            #expect(suite.attribute(forName: "tests")?.stringValue == "4")
            #expect(suite.attribute(forName: "failures")?.stringValue == "1")
            let failed = suite.elements(forName: "testcase").filter { !$0.elements(forName: "failure").isEmpty }
            #expect(failed.map { $0.attribute(forName: "name")?.stringValue } == ["once [genid]"])
            #expect(failed.first?.elements(forName: "failure").first?.attribute(forName: "message")?.stringValue
                        == "clone-1, clone-2, clone-3 and clone-4 printed the same output")
        }

        /// Without genid no clone gets a new generation, so even the
        /// reseeding PRNG repeats itself; what the kernel's own probes
        /// printed is in the report (they may or may not repeat). The
        /// machine's size and extra devices reach QEMU (equal probes: the
        /// guest sees two CPUs and a virtio RNG in every clone).
        @Test func withoutGenidNothingTellsTheClones() async throws {
            let (status, report, _) = try await runCheck([
                "--clones", "2", "--without-genid", "--cpus", "2", "--qemu-arg=-device", "--qemu-arg=virtio-rng-pci",
                "--probe-equal", "cpus=grep -c ^processor /proc/cpuinfo",
                "--probe-equal", "virtio-rng=grep -lE '0x1005|0x1044' /sys/bus/pci/devices/*/device | wc -l",
                "--probe", CheckTests.kernelUUID,
                "--resident", "sysgenidctl prng-example /run/reseeding --reseed",
                "--probe",
                "reseeding=until [ -p /run/reseeding/reply ]; do sleep 1; done; echo > /run/reseeding/request; cat /run/reseeding/reply",
            ])
            #expect(status == 1)
            let verdicts = report.probes ?? []
            #expect(verdicts.map(\.mode) == Array(repeating: "without-genid", count: 4))
            #expect(verdicts.allSatisfy { $0.outputs.count == 2 && $0.failed.isEmpty })
            #expect(verdicts.first { $0.probe == "cpus" }.map { $0.passed && $0.source.output == "2\n" } == true)
            #expect(verdicts.first { $0.probe == "virtio-rng" }.map { $0.passed && $0.source.output == "1\n" } == true)
            #expect(verdicts.first { $0.probe == "reseeding" }?.collisions == [["clone-1", "clone-2"]])
            #expect(report.restores.count == 2 && report.restores.allSatisfy { $0.hostGuid == nil })
        }

        /// A guest of one's own: the lab's Debian image (systemd, Debian's
        /// kernel, its own qemu-guest-agent package) given as a kernel, an
        /// initrd and a qcow2 disk, as Documentation/check.md shows; four
        /// clones each get their own randomness and UUIDs, and the disk
        /// image is not written.
        @Test func clonesOfTheDebianImageAreDistinct() async throws {
            try requireDebianImage()
            let disk = "build/lab/debian/disk.qcow2"
            let before = try FileManager.default.attributesOfItem(atPath: "\(LabProcess.packageRoot)/\(disk)")
            let (status, report, errors) = try await runCheck([
                "--kernel-image", "build/lab/debian/vmlinuz", "--initrd", "build/lab/debian/initrd.img",
                "--append", "root=/dev/vda rw console=ttyS0 panic=-1 quiet", "--disk", disk, "--memory", "1024",
                "--clones", "4",
            ])
            let after = try FileManager.default.attributesOfItem(atPath: "\(LabProcess.packageRoot)/\(disk)")
            #expect(before[.modificationDate] as? Date == after[.modificationDate] as? Date)
            #expect(before[.size] as? Int == after[.size] as? Int)
            #expect(status == 0, "\(report.summary())\n\(errors.suffix(2000))")
            #expect(report.probes?.map(\.probe) == ["urandom", "kernel-uuid"])
            #expect(report.probes?.allSatisfy { $0.passed && $0.outputs.count == 4 } == true)
        }

        /// What goes wrong is said in one line, and nothing is left: a guest
        /// whose kernel finds no init (and, without panic=, would hang),
        /// a file QEMU cannot boot, a guest without a guest agent, a probe
        /// that fails, a disk that does not exist.
        @Test func failuresAreOneLineAndLeaveNothing() async throws {
            let kernel = try GuestKernel.find(TestKernels.primary).imagePath
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("check-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            var empty = NewcArchive()
            empty.addDirectory("dev")
            empty.finish()
            try Data(empty.bytes).write(to: URL(fileURLWithPath: "\(directory)/no-init.cpio"))
            var silent = NewcArchive()
            for name in ["bin", "dev", "proc"] { silent.addDirectory(name) }
            silent.addFile("bin/busybox", contents: Array(try Data(contentsOf: URL(fileURLWithPath: "/bin/busybox"))), mode: 0o755)
            silent.addFile("init", contents: Array("#!/bin/busybox sh\n/bin/busybox sleep 100000\n".utf8), mode: 0o755)
            silent.finish()
            try Data(silent.bytes).write(to: URL(fileURLWithPath: "\(directory)/no-agent.cpio"))
            let cases: [([String], String)] = [
                (["--kernel-image", kernel, "--initrd", "\(directory)/no-init.cpio", "--append", "console=ttyS0"],
                 "the guest's kernel panicked before its agent answered: '["),
                (["--kernel-image", "\(directory)/no-init.cpio"], "QEMU exited with status 1 before the guest was ready; QEMU said"),
                (["--kernel-image", kernel, "--initrd", "\(directory)/no-agent.cpio", "--append", "console=ttyS0 panic=-1",
                  "--agent-timeout", "5"],
                 "the guest's QEMU guest agent did not answer within 5.0 s"),
                (["--probe", "broken=echo oops >&2; exit 3"],
                 "probe 'broken' failed in the source guest before the snapshot: exit status 3: oops"),
                (["--disk", "\(directory)/missing.qcow2"], "missing.qcow2: cannot read it"),
            ]
            // At once: the guests mostly wait (for a timeout, an agent, a panic).
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (arguments, expected) in cases {
                    group.addTask {
                        let (status, report, errors) = try await CheckTests.runCheck(arguments)
                        #expect(status == 1)
                        let error = try #require(report.error, "\(arguments)")
                        #expect(error.contains(expected), "\(error)")
                        #expect(!error.contains("\n"))
                        #expect(errors.split(separator: "\n").last.map(String.init) == "genid-lab: check stopped: \(error)")
                        #expect(report.consoleLog == nil)
                    }
                }
                try await group.waitForAll()
            }
        }

        /// Runs `genid-lab check ARGUMENTS --json`; requires that it left no
        /// QEMU and nothing in its run root.
        private func runCheck(_ arguments: [String]) async throws -> (Int32, LabReport, String) {
            try await CheckTests.runCheck(arguments)
        }

        private static func runCheck(_ arguments: [String]) async throws -> (Int32, LabReport, String) {
            let lab = try LabProcess(["check"] + arguments + ["--json"])
            defer { lab.removeRunRoot() }
            let (status, output, errors) = await lab.finish()
            let report = try LabReport.decode(Data(output.utf8))
            #expect(LabProcess.qemuProcesses(mentioning: lab.runRoot).isEmpty)
            #expect(lab.leftovers().isEmpty, "left behind: \(lab.leftovers())")
            return (status, report, errors)
        }
    }
}
