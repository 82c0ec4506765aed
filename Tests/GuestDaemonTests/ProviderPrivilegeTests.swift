import Foundation
import Testing

/// Who may TRIGGER is decided from the credentials the kernel took at
/// connect, never from what the connecting process becomes later.
@Suite(.serialized, .enabled(if: GuestDaemon.isRoot, "runs clients as uid 65534 and makes a setuid-root program"))
struct ProviderPrivilegeTests {
    /// The attack: uid 65534 connects and forks; the connecting process
    /// execs a setuid-root program that waits (as su waits for a password),
    /// and the child sends `trigger 4294967295` over the inherited
    /// connection. Read from /proc at the request, the connector looked like
    /// root with every capability, and the counter saturated for good.
    @Test func aConnectionKeepsTheRightsItWasOpenedWith() async throws {
        let daemon = try await GuestDaemon()
        let client = try daemon.client()
        // A real setuid-root program that waits: a copy of sleep(1), mode 4755.
        let setuidSleep = "\(daemon.directory)/setuid-sleep"
        try FileManager.default.copyItem(atPath: "/bin/sleep", toPath: setuidSleep)
        #expect(chown(setuidSleep, 0, 0) == 0 && chmod(setuidSleep, 0o4755) == 0)

        let attack = try Command.run(GuestDaemon.asUser(GuestDaemon.nobody, [client, "inherited-trigger", daemon.socket, setuidSleep]))
        let reply = attack.output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!reply.hasPrefix("setup:"), "the attack could not be set up here: \(reply) \(attack.errors)")
        #expect(reply.hasPrefix("err EACCES"), "TRIGGER over a connection opened by uid 65534: \(reply)")
        #expect(daemon.counter == 0, "the counter did not move (\(daemon.counter))")

        // Root still may, and one call may not jump far: the counter cannot be saturated at once.
        let far = try Command.run([client, "request", daemon.socket, "trigger 4294967295"])
        #expect(far.output.hasPrefix("err EINVAL"), "\(far.output)")
        let trigger = try daemon.control(["trigger"])
        #expect(trigger.status == 0 && daemon.counter == 1, "root's TRIGGER: \(trigger.output) \(trigger.errors)")
    }
}
