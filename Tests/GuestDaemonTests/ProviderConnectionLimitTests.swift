import Foundation
import Testing

/// The provider's socket is world-connectable: one uid may hold only so
/// many connections, the others (and root) still get in, and connections
/// cost no thread.
@Suite(.serialized, .enabled(if: GuestDaemon.isRoot, "runs clients as other uids"))
struct ProviderConnectionLimitTests {
    @Test func eachUIDIsCappedAndTheOthersStillGetIn() async throws {
        let cap = 8
        let daemon = try await GuestDaemon(arguments: ["--connections-per-uid", String(cap)])
        let client = try daemon.client()
        let threadsBefore = daemon.threads

        let nobody = try HeldCommand(GuestDaemon.asUser(GuestDaemon.nobody, [client, "hold", daemon.socket, String(cap + 1)]))
        let replies = nobody.lines()
        #expect(replies.count == cap + 1, "\(replies)")
        for (index, reply) in replies.prefix(cap).enumerated() {
            #expect(reply.hasPrefix("\(index) ok provider=sysgenidd"), "\(reply)")
        }
        let refusal = "err EMFILE too many connections from uid 65534 (at most \(cap) per uid)"
        #expect(replies.last == "\(cap) \(refusal)", "\(replies)")
        #expect(daemon.threads == threadsBefore, "\(cap) connections, \(daemon.threads - threadsBefore) more threads")

        // Another uid, and root, are not affected.
        let other = try HeldCommand(GuestDaemon.asUser("65533", [client, "hold", daemon.socket, "1"]))
        #expect(other.lines() == ["0 ok provider=sysgenidd protocol=1 counter=0 page=\(daemon.page)"])
        let get = try daemon.control(["get"])
        #expect(get.status == 0, "root: \(get.errors)")
        // Refused again: one line in the log per episode, not one per attempt.
        let again = try Command.run(GuestDaemon.asUser(GuestDaemon.nobody, [client, "hold", daemon.socket, "1"]))
        #expect(again.output == "0 \(refusal)\n")
        let logged = daemon.errors.components(separatedBy: refusal.dropFirst("err EMFILE ".count)).count - 1
        #expect(logged == 1, "\(daemon.errors)")
        // The library's clients hear the refusal as EMFILE, not as a broken pipe.
        let refusedGet = try Command.run(GuestDaemon.asUser(GuestDaemon.nobody, daemon.controlCommand(["get"])))
        #expect(refusedGet.status != 0 && refusedGet.errors.contains("EMFILE"), "\(refusedGet.errors)")

        // Closed connections are given back.
        nobody.finish()
        other.finish()
        try await Task.sleep(for: .milliseconds(200))
        let later = try Command.run(GuestDaemon.asUser(GuestDaemon.nobody, [client, "hold", daemon.socket, String(cap)]))
        #expect(later.output.split(separator: "\n").allSatisfy { $0.contains(" ok provider=sysgenidd") }, "\(later.output)")
    }

    /// Many uids (a user with a subordinate uid range) cannot take every
    /// descriptor either: all uids but root share one cap, and root still
    /// gets in once it is reached.
    @Test func allUIDsButRootShareOneCap() async throws {
        let total = 6
        let daemon = try await GuestDaemon(arguments: ["--connections-per-uid", "4", "--connections-total", String(total)])
        let client = try daemon.client()
        var held: [HeldCommand] = []
        for uid in ["65534", "65533", "65532"] {
            let holder = try HeldCommand(GuestDaemon.asUser(uid, [client, "hold", daemon.socket, "2"]))
            #expect(holder.lines().allSatisfy { $0.contains(" ok provider=sysgenidd") }, "uid \(uid)")
            held.append(holder)
        }
        let refusal = "err EMFILE too many connections in all (at most \(total) from uids other than root; uid 65531 refused)"
        for _ in 0..<2 {
            let refused = try Command.run(GuestDaemon.asUser("65531", [client, "hold", daemon.socket, "1"]))
            #expect(refused.output == "0 \(refusal)\n", "\(refused.output)")
        }
        let logged = daemon.errors.components(separatedBy: "too many connections in all").count - 1
        #expect(logged == 1, "one line per episode: \(daemon.errors)")
        // Root is not counted: it still gets in, and may TRIGGER.
        let rootHolds = try HeldCommand([client, "hold", daemon.socket, "3"])
        #expect(rootHolds.lines().allSatisfy { $0.contains(" ok provider=sysgenidd") })
        #expect(try daemon.control(["trigger"]).status == 0, "root refused: \(daemon.errors)")
        rootHolds.finish()

        // A connection given back lets the next uid in.
        held.removeFirst().finish()
        try await Task.sleep(for: .milliseconds(200))
        let later = try Command.run(GuestDaemon.asUser("65531", [client, "hold", daemon.socket, "1"]))
        #expect(later.output.contains(" ok provider=sysgenidd"), "\(later.output)")
        for holder in held { holder.finish() }
    }
}
