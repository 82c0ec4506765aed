import Foundation
import GenIDHost
import GenerationStore
import VMGenID

/// The machines of one `SnapshotCheck`: the source, then its clones or its
/// reverts, each asked every probe through the QEMU guest agent.
struct CheckRun: Sendable {
    /// What one guest after the snapshot printed, and the value genid gave it.
    struct Instance: Sendable {
        var name: String
        var outputs: [ProbeOutput]
        var givenValue: String?
        var restoreMilliseconds: Double?
    }

    let check: SnapshotCheck
    let guest: CheckGuest.Resolved
    /// The saved state, and the source's disk overlay when the guest has a
    /// disk (each clone's disk is an overlay on it).
    let stateDirectory: String
    let ledger: any GenerationStore
    let consoles: CheckConsoles
    let progress: @Sendable (String) -> Void
    /// Every QEMU of the run starts with this device value.
    let deviceValue = GenerationID.random()
    static let snapshotName = "genid-check"

    init(check: SnapshotCheck, guest: CheckGuest.Resolved, stateDirectory: String, ledger: any GenerationStore,
         consoles: CheckConsoles, progress: @escaping @Sendable (String) -> Void) throws {
        self.check = check
        self.guest = guest
        self.stateDirectory = stateDirectory
        self.ledger = ledger
        self.consoles = consoles
        self.progress = progress
        if let disk = guest.disk { try DiskImage.createOverlay(at: sourceDisk, on: disk) }
    }

    var sourceDisk: String { "\(stateDirectory)/source-disk.qcow2" }

    /// The source (`incoming` false) writes its own overlay; a clone
    /// starts from it as it was at the save, on an overlay of its own.
    func configuration(incoming: Bool) -> MachineConfiguration {
        var configuration = MachineConfiguration(image: guest.image)
        configuration.accelerator = check.settings.accelerator
        configuration.incoming = incoming
        configuration.initialGenerationID = deviceValue.description
        configuration.extraAgentPorts = [QEMUGuestAgentClient.portName]
        configuration.memoryMiB = check.memoryMiB
        configuration.cpus = check.cpus
        configuration.extraArguments = check.extraQEMUArguments
        configuration.firmwareBoot = guest.firmwareBoot
        if let commandLine = guest.commandLine { configuration.kernelCommandLine = commandLine }
        if guest.disk != nil {
            if incoming { configuration.backingDisk = sourceDisk } else { configuration.diskFile = sourceDisk }
        }
        return configuration
    }

    /// Boots the source, saves its state once, and restores it into
    /// `count` new QEMU processes, `check.parallel` at a time.
    func clones(_ count: Int, report: inout LabReport) async throws -> (source: [ProbeOutput], [Instance]) {
        let stateFile = "\(stateDirectory)/guest.state"
        let (source, bootMilliseconds) = try await withSource { machine, vm, agent in
            // Saved paused and left paused: the source's disk, which the
            // clones' disks start from, must not move on past the save.
            try await vm.monitor.execute("stop")
            try await vm.monitor.execute("migrate", arguments: ["uri": .string("exec:cat > \(shellQuoted(stateFile))")])
            _ = try await vm.waitForMigration(timeout: .seconds(300))
            progress("saved the source's state; restoring \(count) clones, \(min(check.parallel, count)) at a time, "
                        + (check.mode == .genid ? "each given a fresh value by genid" : "without genid"))
        }
        report.timingsMs["boot_to_guest_agent"] = bootMilliseconds
        let names = (1...count).map { "clone-\($0)" }
        let instances = try await withThrowingTaskGroup(of: Instance.self) { group in
            var results: [Instance] = []
            for (index, name) in names.enumerated() {
                if index >= check.parallel, let done = try await group.next() { results.append(done) }
                group.addTask { try await clone(name, from: stateFile) }
            }
            for try await done in group { results.append(done) }
            return results.sorted { names.firstIndex(of: $0.name)! < names.firstIndex(of: $1.name)! }
        }
        return (source, instances)
    }

    /// Boots the source, takes an internal snapshot, and reverts to it
    /// `count` times in the same QEMU.
    func reverts(_ count: Int, report: inout LabReport) async throws -> (source: [ProbeOutput], [Instance]) {
        var instances: [Instance] = []
        let (source, bootMilliseconds) = try await withSource { machine, vm, agent in
            let rotator = Rotator(vm: vm, store: ledger)
            try await rotator.snapshot(named: CheckRun.snapshotName)
            progress("snapshot taken; \(count) reverts " + (check.mode == .genid ? "through genid" : "without genid"))
            for index in 1...count {
                let name = "revert-\(index)"
                let started = ContinuousClock.now
                var given: String?
                if check.mode == .genid {
                    given = try await rotator.revert(to: CheckRun.snapshotName).value.description
                } else {
                    _ = try await PlainRevert(vm: vm).run(to: CheckRun.snapshotName)
                }
                let restored = (ContinuousClock.now - started).milliseconds
                // The guest's agent was rewound with it: talk afresh.
                try await agent.synchronize(timeout: .seconds(30))
                instances.append(Instance(name: name, outputs: await ask(agent, instance: name), givenValue: given,
                                          restoreMilliseconds: restored))
                progress("\(name): probes asked")
            }
        }
        report.timingsMs["boot_to_guest_agent"] = bootMilliseconds
        return (source, instances)
    }

    /// Boots the source and connects its guest agent, starts the resident
    /// commands, asks every probe once (all must succeed: the run stops
    /// otherwise), then runs `body`. Returns the source's outputs and its
    /// boot time.
    private func withSource(_ body: (Machine, AttachedVM, QEMUGuestAgentClient) async throws -> Void) async throws
        -> ([ProbeOutput], Double) {
         progress("booting the source guest (\(guest.image.kernel.release), \(check.settings.accelerator.rawValue))")
        return try await withMachine(configuration(incoming: false), runRoot: check.settings.runRoot,
                                     keepConsoleLogAt: consoles.path("source")) { machine in
            // QMP first: a machine without it cannot be told to quit.
            _ = try await machine.connectQMP()
            let agent = try await machine.connectQEMUGuestAgent(timeout: check.settings.agentTimeout)
            do {
                let booted = (ContinuousClock.now - machine.startedAt).milliseconds
                progress("the source's guest agent answered after \(Int(booted)) ms")
                for command in check.residents {
                    try await startResident(command, agent)
                }
                let source = await ask(agent, instance: "source")
                for (probe, output) in zip(check.probes, source) {
                    if let error = output.error {
                        throw LabError.invalidArgument("probe '\(probe.name)' failed in the source guest before the snapshot: \(error)")
                    }
                }
                let vm = try await machine.attach(name: "lab/check-\((machine.directory.path as NSString).lastPathComponent)")
                // The device value is recorded, so genid never gives it to a clone.
                try await ledger.record(deviceValue, for: vm.identity, role: .live, event: "boot", detail: nil,
                                        origin: .observed)
                try await body(machine, vm, agent)
                await agent.close()
                return (source, booted)
            } catch {
                await agent.close()
                throw error
            }
        }
    }

    /// One clone: a new QEMU restored from `stateFile`, with a fresh value
    /// (genid) or as QEMU restores alone, then asked every probe.
    private func clone(_ name: String, from stateFile: String) async throws -> Instance {
        try await withMachine(configuration(incoming: true), runRoot: check.settings.runRoot,
                              keepConsoleLogAt: consoles.path(name)) { machine in
            let vm = try await machine.attach(name: "lab/check-\((machine.directory.path as NSString).lastPathComponent)")
            let started = ContinuousClock.now
            var given: String?
            if check.mode == .genid {
                given = try await Rotator(vm: vm, store: ledger).restore(from: stateFile).value.description
            } else {
                try await PlainRestore(vm: vm).run(from: stateFile)
            }
            let restored = (ContinuousClock.now - started).milliseconds
            let agent = try await machine.connectQEMUGuestAgent(timeout: .seconds(30))
            let outputs = await ask(agent, instance: name)
            await agent.close()
            progress("\(name): restored in \(Int(restored)) ms, probes asked")
            return Instance(name: name, outputs: outputs, givenValue: given, restoreMilliseconds: restored)
        }
    }

    /// Runs every probe once, in order; a probe that fails is recorded with why.
    private func ask(_ agent: QEMUGuestAgentClient, instance: String) async -> [ProbeOutput] {
        var outputs: [ProbeOutput] = []
        for probe in check.probes {
            let started = ContinuousClock.now
            do {
                let result = try await agent.run(["/bin/sh", "-c", probe.command], timeout: check.probeTimeout)
                var output = ProbeOutput(instance: instance, output: result.standardOutput, exitCode: result.exitCode,
                                         elapsedMs: (ContinuousClock.now - started).milliseconds)
                if !result.succeeded {
                    let status = result.signal.map { "killed by signal \($0)" } ?? "exit status \(result.exitCode ?? -1)"
                    let said = result.standardError.split(whereSeparator: \.isNewline).first.map { ": \($0)" } ?? ""
                    output.error = status + said
                }
                outputs.append(output)
            } catch {
                outputs.append(ProbeOutput(instance: instance, error: (error as? LabError)?.oneLine ?? "\(error)",
                                           elapsedMs: (ContinuousClock.now - started).milliseconds))
            }
        }
        return outputs
    }

    /// Starts `command` in the background in the guest, detached from the
    /// agent (its output goes nowhere), and checks that the shell started it.
    private func startResident(_ command: String, _ agent: QEMUGuestAgentClient) async throws {
        let result = try await agent.run(["/bin/sh", "-c", "(\(command)\n) </dev/null >/dev/null 2>&1 &"],
                                         timeout: check.probeTimeout)
        guard result.succeeded else {
            throw LabError.invalidArgument("the resident command '\(command)' did not start: exit status "
                + "\(result.exitCode ?? -1) \(result.standardError.split(whereSeparator: \.isNewline).first ?? "")")
        }
        progress("resident started: \(command)")
    }
}

/// QEMU's own restore of a saved state into a new process, without genid:
/// the guest runs on with the value its device re-asserts.
struct PlainRestore: Sendable {
    let vm: AttachedVM

    func run(from stateFile: String) async throws {
        try await vm.monitor.execute("migrate-incoming", arguments: ["uri": .string("exec:cat \(shellQuoted(stateFile))")])
        _ = try await vm.waitForMigration(timeout: .seconds(300))
        // The state was saved paused (as libvirt saves), so the guest
        // runs once told to, as libvirt's restore tells it.
        if try await vm.runState() != "running" { try await vm.monitor.execute("cont") }
    }
}

private func shellQuoted(_ path: String) -> String {
    "'" + path.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
