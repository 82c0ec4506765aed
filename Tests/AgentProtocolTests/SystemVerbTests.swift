import Testing
@testable import AgentProtocol

@Suite struct SystemVerbTests {
    @Test func unitKeysAreProtocolKeys() {
        #expect(AgentSystemField.unit("sysgenidd.service") == "unit_sysgenidd_service")
        #expect(AgentSystemField.unit("multi-user.target") == "unit_multi_user_target")
        #expect(AgentSystemField.unit("serial-getty@ttyS0.service") == "unit_serial_getty_ttys0_service")
        // Keys are [a-z0-9_]+, which the response encoding requires.
        #expect(AgentSystemField.unit("Weird:Name\\x2d.mount").allSatisfy { $0.isLowercase || $0.isNumber || $0 == "_" })
    }

    @Test func onlyUnitNamesReachSystemctl() {
        for name in ["sysgenidd.service", "multi-user.target", "serial-getty@ttyS0.service", "dev-vda.device",
                     "systemd-fsck@dev-disk-by\\x2dlabel-root.service"] {
            #expect(AgentSystemField.isUnitName(name), "\(name)")
        }
        for name in ["", "--all", "sysgenidd", "a b.service", "x.service;reboot", "$(reboot).service",
                     String(repeating: "a", count: 300) + ".service"] {
            #expect(!AgentSystemField.isUnitName(name), "\(name)")
        }
    }

    /// A name that starts with '-' would reach systemctl as an option
    /// (`-H.service`: "connect to host .service" over SSH; `--user.service`
    /// would be refused only by luck): refused, saying why.
    @Test func namesStartingWithADashAreRefusedSayingWhy() {
        for name in ["-H.service", "--user.service", "-Mroot@.service", "-.service", "--.target"] {
            #expect(!AgentSystemField.isUnitName(name), "\(name)")
            let error = AgentSystemField.argumentsError(["sysgenidd.service", name])
            #expect(error == "usage: system [unit ...]: '\(name)' starts with '-' (systemctl would read it as an option)",
                    "\(error ?? "accepted")")
        }
        #expect(AgentSystemField.argumentsError(["sysgenidd.service", "multi-user.target"]) == nil)
        #expect(AgentSystemField.argumentsError([]) == nil)
    }

    /// `--` ends systemctl's options before any name, whatever the check above lets through.
    @Test func systemctlGetsDoubleDashBeforeTheNames() {
        #expect(AgentSystemField.isActiveArguments(["a.service", "b.target"]) == ["is-active", "--", "a.service", "b.target"])
    }
}
