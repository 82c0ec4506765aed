import Foundation
import GenIDControl
import GenIDLab
import Testing

extension LabIntegration {
    /// The control socket and the metrics endpoint against a real genidd,
    /// attacked as a local user would: requests that used to kill genidd,
    /// the wrong role, too many connections, descriptors exhausted.
    @Suite(.serialized) struct ControlSocketAttackTests {
        /// `wait-ready` with 1e300 seconds killed genidd ("Double value
        /// cannot be converted to Int64"); now it is refused and genidd lives.
        @Test func outOfBoundsArgumentsAreRefusedAndGeniddLives() async throws {
            let fixture = try await GeniddFixture.start()
            defer { fixture.tearDown() }
            let genidd = fixture.genidd
            let huge = try genidd.send(ControlRequest(command: .waitReady, domain: "test", timeoutSeconds: 1e300))
            #expect(!huge.ok && huge.error?.contains("'timeoutSeconds' must be more than 0 and at most 3600") == true,
                    "\(huge)")
            let page = try genidd.send(ControlRequest(command: .history, limit: Int.max))
            #expect(!page.ok && page.error?.contains("'limit' must be 0 to 1000") == true, "\(page)")
            #expect(genidd.isRunning)
            #expect(try genidd.send(ControlRequest(command: .status)).ok)
        }

        /// Readers (the read-only group) read; only root and the control
        /// group rotate, revert, reconcile and notify; others get nothing.
        @Test func readersCannotOperate() async throws {
            let fixture = try await GeniddFixture.start(controlGroup: "staff", readOnlyGroup: "users")
            defer { fixture.tearDown() }
            let socket = fixture.genidd.socketPath
            let genidctl = LabProcess.binary("genidctl")
            func asNobody(groups: String?, _ arguments: [String]) async throws -> (status: Int32, output: String, errors: String) {
                let identity = ["setpriv", "--reuid", "65534", "--regid", "65534"]
                    + (groups.map { ["--groups", $0] } ?? ["--clear-groups"])
                return try await runCommand(identity + [genidctl] + arguments + ["--socket", socket])
            }
            let reader = "100"  // Debian's "users"
            let status = try await asNobody(groups: reader, ["status"])
            #expect(status.status == 0, "\(status.errors)")
            let history = try await asNobody(groups: reader, ["history", "--limit", "3"])
            #expect(history.status == 0, "\(history.errors)")
            for verb in [["rotate", "nosuchdomain"], ["revert", "nosuchdomain", "snap"], ["reconcile"],
                         ["notify", "nosuchdomain", "start/begin"]] {
                let refused = try await asNobody(groups: reader, verb)
                #expect(refused.status == 1 && refused.errors.contains("permission denied: '\(verb[0])' is for root"),
                        "\(verb): \(refused.errors)")
            }
            let operatorGroup = "50"  // Debian's "staff"
            let operated = try await asNobody(groups: operatorGroup, ["reconcile"])
            #expect(operated.status == 0, "\(operated.errors)")
            let outsider = try await asNobody(groups: nil, ["status"])
            #expect(outsider.status == 1 && outsider.errors.contains("permission denied"), "\(outsider.errors)")
            #expect(fixture.genidd.log(lines: 300).contains("reason=role"))
        }

        /// One uid cannot hold every connection: past its share it is told
        /// why, and root still gets in.
        @Test func oneUserCannotTakeEveryConnection() async throws {
            let fixture = try await GeniddFixture.start(readOnlyGroup: "users")
            defer { fixture.tearDown() }
            // A local user (in the read-only group) opens 20 connections and
            // sends nothing; what it reads on each is printed.
            let script = """
                sys, socket = __import__("sys"), __import__("socket")
                held = []
                for _ in range(20):
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.connect(sys.argv[1])
                    held.append(s)
                for s in held[16:]:
                    s.settimeout(10)
                    print(s.recv(4096).decode().strip())
                """
            let holder = Task {
                try await runCommand(["setpriv", "--reuid", "65534", "--regid", "65534", "--groups", "100",
                                      "/usr/bin/python3", "-c", script, fixture.genidd.socketPath])
            }
            try await Task.sleep(for: .seconds(1))
            #expect(try fixture.genidd.send(ControlRequest(command: .status)).ok)
            let held = try await holder.value
            #expect(held.status == 0, "\(held.errors)")
            let refusals = held.output.split(separator: "\n")
            #expect(refusals.count == 4 && refusals.allSatisfy { $0.contains("too many connections from uid 65534") },
                    "\(held.output)")
            #expect(fixture.genidd.log(lines: 300).contains("reason=too-many"))
        }

        /// A request that trickles in a byte at a time is cut off at one
        /// deadline for the whole request, not one per read.
        @Test func aTricklingRequestMeetsOneDeadline() async throws {
            let fixture = try await GeniddFixture.start()
            defer { fixture.tearDown() }
            let fd = try connectUnix(fixture.genidd.socketPath)
            defer { close(fd) }
            let started = ContinuousClock.now
            var answer = ""
            for byte in Array(#"{"command":"status"  "#.utf8) {
                var one = byte
                guard send(fd, &one, 1, Int32(MSG_NOSIGNAL)) == 1 else { break }
                if let reply = readAvailable(fd, waitingMilliseconds: 2000) { answer = reply; break }
            }
            // Each byte came within 2 s of the last, so a per-read limit
            // of 10 s would never have fired.
            #expect(answer.contains("no whole request line within 10 s"), "\(answer)")
            #expect(ContinuousClock.now - started >= .seconds(10))
            #expect(try fixture.genidd.send(ControlRequest(command: .status)).ok)
        }

        /// Twice genidd's descriptor limit in connections, to both servers
        /// at once: each holds only its share of the limit (`DescriptorBudget`),
        /// refuses the rest at once, and answers again when they are let go.
        /// The control socket's accept loop used to end at the first EMFILE,
        /// silently, until genidd restarted; and with no descriptor left,
        /// libdispatch traps (it reads /proc/self/task) and genidd dies.
        @Test func twiceTheDescriptorLimitInConnectionsLeavesGeniddServing() async throws {
            let port = Int.random(in: 20000...40000)
            let limit = 128
            let fixture = try await GeniddFixture.start(metricsAddress: "127.0.0.1:\(port)", fileLimit: limit)
            defer { fixture.tearDown() }
            let genidd = fixture.genidd
            var held: [Int32] = []
            defer { held.forEach { close($0) } }
            for _ in 0..<limit {
                if let fd = try? connectUnix(genidd.socketPath) { held.append(fd) }
                if let fd = try? connectLoopback(port: port) { held.append(fd) }
            }
            #expect(held.count == 2 * limit, "the kernel queued fewer connections than asked")
            // While they are held, root still gets an answer: a refusal, at once.
            let busy = try genidd.send(ControlRequest(command: .status))
            #expect(!busy.ok && busy.error?.contains("too many connections") == true, "\(busy)")
            held.forEach { close($0) }
            held.removeAll()
            var answered = false
            for _ in 0..<150 where !answered {
                answered = (try? genidd.send(ControlRequest(command: .status)))?.ok == true
                if !answered { try await Task.sleep(for: .milliseconds(200)) }
            }
            #expect(answered, "the control socket does not answer: \(genidd.log(lines: 20))")
            #expect(genidd.isRunning)
            // The endpoint notices the closed connections as they close:
            // ask until it has a place again.
            var scrape: (status: Int, body: String)?
            for _ in 0..<150 where scrape == nil {
                scrape = try? loopbackGET(port: port, path: "/metrics")
                if scrape == nil { try await Task.sleep(for: .milliseconds(200)) }
            }
            let (status, text) = try #require(scrape, "the metrics endpoint does not answer")
            #expect(status == 200)
            #expect(text.contains(#"genid_control_refused_total{reason="too-many"}"#), "\(text)")
            #expect(text.contains("genid_metrics_refused_total"), "\(text)")
            let log = genidd.log(lines: 2000)
            #expect(["descriptors=128", "control_connections=16", "metrics_connections=8"].allSatisfy(log.contains))
        }
    }
}

private func connectUnix(_ path: String) throws -> Int32 {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8).prefix($0.count - 1)) }
    return try connectedSocket(family: AF_UNIX, to: &address)
}

/// What the peer sent within `waitingMilliseconds`, nil if nothing.
private func readAvailable(_ fd: Int32, waitingMilliseconds: Int32) -> String? {
    var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    guard poll(&poller, 1, waitingMilliseconds) > 0 else { return nil }
    var buffer = [UInt8](repeating: 0, count: 4096)
    let count = read(fd, &buffer, buffer.count)
    return count > 0 ? String(decoding: buffer[..<count], as: UTF8.self) : nil
}
