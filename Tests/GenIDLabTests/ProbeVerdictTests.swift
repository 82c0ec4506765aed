import Foundation
@testable import GenIDLab
import Testing

/// Probes as `genid-lab check` parses and judges them: pure logic.
struct ProbeVerdictTests {
    @Test func parsesNameEqualsCommand() throws {
        let probe = try GuestProbe(parsing: "kernel-uuid=cat /proc/sys/kernel/random/uuid | tr a b=c")
        #expect(probe.name == "kernel-uuid")
        #expect(probe.command == "cat /proc/sys/kernel/random/uuid | tr a b=c")
        #expect(probe.expectation == .distinct)
        #expect(try GuestProbe(parsing: "host=hostname", expectation: .equal).expectation == .equal)
    }

    @Test(arguments: ["no-equals-sign", "=cat x", "bad name=cat x", "name=  ", "naïve=cat x"])
    func refusesMalformedProbes(_ text: String) {
        #expect(throws: LabError.self) { try GuestProbe(parsing: text) }
    }

    private func outputs(_ values: [String?]) -> [ProbeOutput] {
        values.enumerated().map { index, value in
            value.map { ProbeOutput(instance: "clone-\(index + 1)", output: $0, exitCode: 0) }
                ?? ProbeOutput(instance: "clone-\(index + 1)", exitCode: 1, error: "exit status 1")
        }
    }

    @Test func distinctOutputsPass() {
        let verdict = ProbeVerdict(probe: GuestProbe(name: "r", command: "x"), mode: "genid",
                                   source: ProbeOutput(instance: "source", output: "s\n"), outputs: outputs(["a\n", "b\n", "c\n"]))
        #expect(verdict.passed && verdict.distinct && verdict.collisions.isEmpty)
        #expect(verdict.summary == "3 outputs, pairwise distinct and unlike the source's")
    }

    /// Collisions group every instance that printed one output, the source
    /// included, in the order they first appear.
    @Test func collisionsNameTheGuestsThatRepeated() {
        let verdict = ProbeVerdict(probe: GuestProbe(name: "r", command: "x"), mode: "without-genid",
                                   source: ProbeOutput(instance: "source", output: "b\n"),
                                   outputs: outputs(["a\n", "a\n", "b\n", "c\n", "a\n"]))
        #expect(!verdict.passed && !verdict.distinct)
        #expect(verdict.collisions == [["source", "clone-3"], ["clone-1", "clone-2", "clone-5"]])
        #expect(verdict.summary == "source and clone-3 printed the same output; clone-1, clone-2 and clone-5 printed the same output")
        #expect(Set(verdict.blamed) == ["source", "clone-1", "clone-2", "clone-3", "clone-5"])
    }

    /// A failed command never counts as an output, and fails the probe.
    @Test func aFailedCommandFailsTheProbe() {
        let verdict = ProbeVerdict(probe: GuestProbe(name: "r", command: "x"), mode: "genid",
                                   source: ProbeOutput(instance: "source", output: "s"), outputs: outputs(["a", nil, "b"]))
        #expect(!verdict.passed && verdict.failed == ["clone-2"] && verdict.collisions.isEmpty)
        #expect(verdict.summary == "the probe failed in clone-2: exit status 1")
    }

    @Test func equalProbesMustRepeatTheSource() {
        let probe = GuestProbe(name: "host", command: "hostname", expectation: .equal)
        let same = ProbeVerdict(probe: probe, mode: "genid", source: ProbeOutput(instance: "source", output: "h"),
                                outputs: outputs(["h", "h"]))
        #expect(same.passed && !same.distinct)
        let moved = ProbeVerdict(probe: probe, mode: "genid", source: ProbeOutput(instance: "source", output: "h"),
                                 outputs: outputs(["h", "x"]))
        #expect(!moved.passed && moved.summary == "clone-2 printed something else than the source")
        #expect(moved.blamed == ["clone-2"])
    }
}
