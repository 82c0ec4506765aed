import Foundation
import Testing

/// Every number a client sends reaches arithmetic in the provider: none of
/// them may make it trap. The provider is one process for every user.
@Suite(.serialized, .enabled(if: GuestDaemon.isRoot, "runs clients as uid 65534"))
struct ProviderArithmeticTests {
    /// A `wait` of 2^64-1 ms while a tracked watcher (the attacker's own
    /// other connection) has not acknowledged: the timeout is clamped to
    /// 2^32-1 ms, as the module clamps it, and the provider goes on.
    @Test func theLongestWaitDoesNotEndTheProvider() async throws {
        let daemon = try await GuestDaemon()
        let client = try daemon.client()
        let watcher = try HeldCommand(GuestDaemon.asUser(GuestDaemon.nobody, [client, "track", daemon.socket]))
        #expect(watcher.lines() == ["ok"])
        #expect(try daemon.control(["trigger"]).status == 0)
        // Up to date (connected after the TRIGGER), so the wait blocks; the
        // cancel sent right after it ends it, if the provider is still there.
        for argument in ["18446744073709551615", "0xffffffffffffffff", "9223372036854775807", "4294967296"] {
            let attack = try Command.run(GuestDaemon.asUser(GuestDaemon.nobody,
                                                            [client, "request", daemon.socket, "wait \(argument)\ncancel"]))
            #expect(attack.output == "err EINTR cancelled\n", "wait \(argument): \(attack.output) \(daemon.errors)")
        }
        for argument in ["2147483647", "-1", "0"] {
            let poll = try Command.run(GuestDaemon.asUser(GuestDaemon.nobody,
                                                          [client, "request", daemon.socket, "poll \(argument)\ncancel"]))
            #expect(poll.output == (argument == "0" ? "ok readable=0\n" : "err EINTR cancelled\n"), "poll \(argument): \(poll.output)")
        }
        for line in ["trigger 18446744073709551615", "read 18446744073709551615", "read 9223372036854775807 nonblock",
                     "ack 4294967295", "track 18446744073709551615"] {
            let reply = try Command.run(GuestDaemon.asUser(GuestDaemon.nobody, [client, "request", daemon.socket, line]))
            #expect(reply.output.hasPrefix("ok") || reply.output.hasPrefix("err E"), "\(line): \(reply.output)")
        }
        watcher.finish()
        let get = try daemon.control(["get"])
        #expect(get.status == 0 && kill(daemon.pid, 0) == 0, "the provider is gone: \(get.errors) \(daemon.errors)")
    }
}
