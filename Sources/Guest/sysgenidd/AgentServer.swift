#if canImport(Glibc)
import Glibc
#endif
import AgentProtocol
import SysGenID
import VMGenID

/// Answers the host's requests on one agent port, one line at a time (one
/// server per port, each on its own thread, all sharing the GuestContext).
/// Quick verbs are answered in line; the ones that block (wait-watchers,
/// wait-ready, conformance, bench) on a thread of their own, so ping and
/// status stay prompt.
final class AgentServer: @unchecked Sendable {
    let port: AgentPort
    let context: GuestContext
    private var view = GuestView()
    private let writeLock = Monitor()

    init(port: AgentPort, context: GuestContext) {
        self.port = port
        self.context = context
    }

    /// Waits for the port `name`, then serves it for good (call on a thread of its own).
    static func serve(portNamed name: String, context: GuestContext) -> Never {
        let port = AgentPort.open(named: name)
        log("agent listening on \(port.devicePath) (\(name))")
        AgentServer(port: port, context: context).run()
    }

    func run() -> Never {
        var pending: [UInt8] = []
        while true {
            do {
                pending += try port.readAvailable(timeoutMilliseconds: 1000)
            } catch {
                log("\(error)")
                continue
            }
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                respond(to: line)
            }
            if pending.count > agentMaximumLineLength {
                log("dropping \(pending.count) bytes without a newline")
                pending.removeAll()
            }
        }
    }

    private func respond(to line: String) {
        let request: AgentRequest
        do {
            request = try AgentRequest(line: line)
        } catch {
            // No id to answer to: say so on the console and carry on.
            log("ignoring request: \(error)")
            return
        }
        guard let verb = AgentVerb(rawValue: request.verb) else {
            let known = AgentVerb.allCases.map(\.rawValue).joined(separator: ", ")
            answer(request, .error("unknown verb '\(request.verb)'; this agent knows: \(known)"))
            return
        }
        switch verb {
        case .ping:
            answer(request, .ok([AgentField("agent", "sysgenidd"), AgentField("protocol", String(agentProtocolVersion))]))
        case .status:
            answer(request, .ok(view.statusFields() + context.statusFields()))
        case .watchers:
            answer(request, context.watchers())
        case .waitWatchers:
            guard let parsed = WaitWatchersArguments(request.arguments) else {
                answer(request, .error(WaitWatchersArguments.usage))
                return
            }
            PosixThread.detach { [self] in
                answer(request, context.waitWatchers(timeoutMilliseconds: parsed.timeoutMilliseconds))
            }
        case .waitReady:
            guard let parsed = WaitReadyArguments(request.arguments), let value = GenerationID(parsed.value) else {
                answer(request, .error(WaitReadyArguments.usage))
                return
            }
            PosixThread.detach { [self] in
                answer(request, context.waitReady(value: value, timeoutMilliseconds: parsed.timeoutMilliseconds))
            }
        case .slowWatcher:
            guard let parsed = SlowWatcherArguments(request.arguments) else {
                answer(request, .error(SlowWatcherArguments.usage))
                return
            }
            guard let active = context.active else {
                answer(request, .error("ENODEV no sysgenid provider in this guest"))
                return
            }
            do {
                let running = try SlowWatcher.start(provider: active, ackDelayMilliseconds: parsed.ackDelayMilliseconds)
                var fields = [AgentField(AgentReadinessField.watcher, "started"),
                              AgentField(AgentReadinessField.slowWatchers, String(running))]
                if let counter = context.counter { fields.append(AgentField(AgentStatusField.sysgenidCounter, String(counter))) }
                answer(request, .ok(fields))
            } catch {
                answer(request, .error("\(error.errno.name) \(error)"))
            }
        case .conformance:
            guard let parsed = ConformanceArguments(request.arguments) else {
                answer(request, .error(ConformanceArguments.usage))
                return
            }
            let kind: SysGenIDProviderKind = parsed.suite == .device ? .device : .userspace
            PosixThread.detach { [self] in answer(request, context.conformance(kind: kind, fresh: parsed.fresh)) }
        case .system:
            if let error = AgentSystemField.argumentsError(request.arguments) {
                answer(request, .error(error))
                return
            }
            PosixThread.detach { [self] in answer(request, .ok(SystemView.fields(units: request.arguments))) }
        case .armWakeup:
            guard let active = context.active else {
                answer(request, .error("ENODEV no sysgenid provider in this guest"))
                return
            }
            do {
                let armed = try GuestProbes.armWakeup(provider: active) { [self] generation, monotonic in
                    send(AgentEvent(name: AgentEvent.wakeup,
                                    fields: [AgentField("generation", String(generation)),
                                             AgentField(AgentStatusField.monotonicNanoseconds, String(monotonic))]).line)
                }
                answer(request, .ok([AgentField(AgentStatusField.sysgenidCounter, String(armed))]))
            } catch {
                answer(request, .error("\(error.errno.name) \(error)"))
            }
        case .bench:
            guard let active = context.active else {
                answer(request, .error("ENODEV no sysgenid provider in this guest"))
                return
            }
            guard let parsed = BenchArguments(request.arguments) else {
                answer(request, .error(BenchArguments.usage))
                return
            }
            PosixThread.detach { [self] in
                answer(request, GuestProbes.bench(provider: active, mmapLoads: parsed.mmapLoads, reads: parsed.reads))
            }
        }
    }

    /// Writes one whole line (a response or an event) under the write lock.
    private func send(_ line: String) {
        writeLock.locked {
            do {
                try port.writeAll(line)
            } catch {
                log("cannot send: \(error)")
            }
        }
    }

    private func answer(_ request: AgentRequest, _ outcome: AgentResponse.Outcome) {
        let response = AgentResponse(id: request.id, outcome: outcome)
        writeLock.locked {
            do {
                try port.writeAll(response.line)
            } catch {
                log("cannot answer: \(error)")
            }
        }
    }
}
