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
            "generation hooks: none run: \(hooks): group-writable (mode 775) (the directory, and every directory above it, must be root's, writable only by root)\n"),
            "\(daemon.errors)")

        #expect(chmod(hooks, 0o755) == 0 && chown(hooks, 65534, 65534) == 0)
        try daemon.newGeneration()
        #expect(runs() == ["trusted 1"], "a hooks directory owned by uid 65534: nothing runs")
        #expect(daemon.errors.contains("generation hooks: none run: \(hooks): owned by uid 65534, not root"), "\(daemon.errors)")

        #expect(chown(hooks, 0, 0) == 0)
        try daemon.newGeneration()
        #expect(runs() == ["trusted 1", "trusted 4"], "root's again: the trusted hook runs again")
    }

    /// The whole way to each hook is root's, checked just before each
    /// spawn: a hooks directory under a user's directory, a hook that is a
    /// symbolic link into a user's directory, and a hook an earlier hook
    /// gave away never run; a symbolic link along root's own directories does.
    @Test func theWholePathIsRootsAtEachSpawn() async throws {
        let daemon = try await GuestDaemon(runHooks: true) { daemon in
            let log = "\(daemon.directory)/runs"
            let fm = FileManager.default
            for name in ["lib", "users"] {
                try fm.createDirectory(atPath: "\(daemon.directory)/\(name)", withIntermediateDirectories: false,
                                       attributes: [.posixPermissions: 0o755])
            }
            // Root's own files, in root's directory and in uid 65534's.
            for name in ["lib", "users"] {
                let path = "\(daemon.directory)/\(name)/hook"
                try "#!/bin/sh\necho \(name) >> \(log)\n".write(toFile: path, atomically: true, encoding: .utf8)
                #expect(chmod(path, 0o755) == 0)
            }
            #expect(chown("\(daemon.directory)/users", 65534, 65534) == 0)
            try fm.createSymbolicLink(atPath: "\(daemon.hooks)/20-link-to-roots", withDestinationPath: "../lib/hook")
            try fm.createSymbolicLink(atPath: "\(daemon.hooks)/30-link-to-users", withDestinationPath: "\(daemon.directory)/users/hook")
            // 10 gives 40 away: checked at the start of the round only, 40 would run.
            try daemon.hook("10-gives-40-away", "echo first >> \(log); chown 65534 \(daemon.hooks)/40-given-away")
            try daemon.hook("40-given-away", "echo given-away >> \(log)")
        }
        func runs() -> [String] {
            ((try? String(contentsOfFile: "\(daemon.directory)/runs", encoding: .utf8)) ?? "")
                .split(separator: "\n").map(String.init)
        }
        let hooks = daemon.hooks, directory = daemon.directory

        try daemon.newGeneration()
        #expect(runs() == ["first", "lib"], "\(daemon.errors)")
        for line in ["not running \(hooks)/30-link-to-users: \(directory)/users: owned by uid 65534, not root",
                     "not running \(hooks)/40-given-away: owned by uid 65534, not root"] {
            #expect(daemon.errors.contains("sysgenidd: generation hooks: \(line) (a hook must be root's, writable only by root)\n"),
                    "\(daemon.errors)")
        }

        // The directory above hooks.d: whoever owns it may swap hooks.d.
        #expect(chown(directory, 65534, 65534) == 0)
        try daemon.newGeneration()
        #expect(runs() == ["first", "lib"], "hooks.d under uid 65534's directory: nothing runs")
        #expect(daemon.errors.contains("generation hooks: none run: \(hooks): \(directory): owned by uid 65534, not root"),
                "\(daemon.errors)")
        #expect(chown(directory, 0, 0) == 0)
    }
}
