import Foundation
import Testing

/// Hooks run as root: a hook, or the hooks directory, that someone other
/// than root owns or may write does not run, and sysgenidd says why in one
/// line. Real files, real owners, real generations.
@Suite(.serialized, .enabled(if: GuestDaemon.isRoot, "creates files owned by uid 65534"))
struct HookTrustTests {
    @Test func onlyHooksThatRootAloneControlsRun() async throws {
        let daemon = try await GuestDaemon(runHooks: true) { daemon in
            let log = "\(daemon.directory)/runs"
            try daemon.hook("10-trusted", #"echo "trusted $SYSGENID_GENERATION" >> \#(log)"#)
            try daemon.hook("20-group-writable", "echo group >> \(log)", mode: 0o775)
            try daemon.hook("30-world-writable", "echo world >> \(log)", mode: 0o757)
            try daemon.hook("40-not-roots", "echo nobody >> \(log)")
            #expect(chown("\(daemon.hooks)/40-not-roots", 65534, 65534) == 0)
        }
        func runs() -> [String] {
            ((try? String(contentsOfFile: "\(daemon.directory)/runs", encoding: .utf8)) ?? "")
                .split(separator: "\n").map(String.init)
        }

        try daemon.newGeneration()
        #expect(runs() == ["trusted 1"], "only the hook root alone controls runs")
        let hooks = daemon.hooks
        for line in ["not running \(hooks)/20-group-writable: group-writable (mode 775)",
                     "not running \(hooks)/30-world-writable: world-writable (mode 757)",
                     "not running \(hooks)/40-not-roots: owned by uid 65534, not root"] {
            #expect(daemon.errors.contains("sysgenidd: generation hooks: \(line) (a hook must be root's, writable only by root)\n"),
                    "\(daemon.errors)")
        }

        // The directory: whoever may write it may put any hook there.
        #expect(chmod(hooks, 0o775) == 0)
        try daemon.newGeneration()
        #expect(runs() == ["trusted 1"], "a group-writable hooks directory: nothing runs")
        #expect(daemon.errors.contains(
            "generation hooks: none run: \(hooks): group-writable (mode 775) (the directory must be root's, writable only by root)\n"),
            "\(daemon.errors)")

        #expect(chmod(hooks, 0o755) == 0 && chown(hooks, 65534, 65534) == 0)
        try daemon.newGeneration()
        #expect(runs() == ["trusted 1"], "a hooks directory owned by uid 65534: nothing runs")
        #expect(daemon.errors.contains("generation hooks: none run: \(hooks): owned by uid 65534, not root"), "\(daemon.errors)")

        #expect(chown(hooks, 0, 0) == 0)
        try daemon.newGeneration()
        #expect(runs() == ["trusted 1", "trusted 4"], "root's again: the trusted hook runs again")
    }
}
