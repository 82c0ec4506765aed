// libFuzzer target for the guest agent's line protocol (Sources/Shared/AgentProtocol).
//
// Built by Fuzz/run with every file of AgentProtocol (it imports nothing).
// The input is what arrives on the agent channel, cut at each newline as
// both ends do; every line goes through both directions' parsers:
//   - the host's (`AgentIncoming`, which `AgentClient` runs on each line a
//     possibly hostile guest sends): an event, a response, or dropped;
//   - the guest's (`AgentRequest`, then the verbs' argument parsers that
//     sysgenidd runs on what the host sends).
//
// Invariants (a violation traps, so libFuzzer reports a crash):
//   - no parser traps; refusals are `AgentProtocolError`s whose description
//     stays under 2 KiB however long or odd the line (they are logged);
//   - whatever parses re-encodes (`line`) to one line that parses back to the
//     same message, byte for byte, unless that line exceeds
//     `agentMaximumLineLength`, where it is refused as too long;
//   - a response's keys are [a-z0-9_]; an event's own line is an event to
//     the host again;
//   - the verbs' arguments accepted (`wait-ready`, `wait-watchers`,
//     `conformance`, `bench`, `slow-watcher`) are in bounds, and what a host
//     builds of them parses back the same; `system` units
//     accepted are unit names that cannot be read as systemctl options;
//     every argument's `unit_` key is a response key.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAgentMessage(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: size > 0 ? data : nil, count: size)
    for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).prefix(16) {
        // As AgentClient (String(buffer:)) and AgentServer decode a line.
        let text = String(decoding: line, as: UTF8.self)
        checkHostSide(text)
        checkGuestSide(text)
    }
    return 0
}

private func checkHostSide(_ text: String) {
    switch AgentIncoming(line: text) {
    case .event(let event):
        requireRoundTrip(event.line, { try AgentEvent(line: $0) }, same: { sameEvent($0, event) })
        require(AgentIncoming(line: event.line) == .event(event) || event.line.utf8.count > agentMaximumLineLength + 1,
                "an event's line is not an event")
    case .response(let response):
        if case .ok(let fields) = response.outcome {
            for field in fields {
                require(!field.key.isEmpty && field.key.utf8.allSatisfy(isKeyByte), "response key \(field.key.debugDescription)")
            }
        }
        requireRoundTrip(response.line, { try AgentResponse(line: $0) }, same: { sameResponse($0, response) })
    case .dropped:
        // What the host drops, each parser refuses cleanly.
        requireCleanRefusal { try AgentResponse(line: text) }
    }
    requireCleanRefusal { try AgentEvent(line: text) }
}

private func checkGuestSide(_ text: String) {
    let request: AgentRequest
    do {
        request = try AgentRequest(line: text)
    } catch {
        requireBounded(error)
        return
    }
    requireRoundTrip(request.line, { try AgentRequest(line: $0) }, same: {
        $0.id == request.id && bytes($0.verb) == bytes(request.verb) && $0.arguments.map(bytes) == request.arguments.map(bytes)
    })
    let arguments = request.arguments
    if let parsed = WaitReadyArguments(arguments) {
        require(WaitReadyArguments(parsed.arguments) == parsed, "wait-ready arguments do not round-trip: \(arguments)")
    }
    if let parsed = WaitWatchersArguments(arguments) {
        require(WaitWatchersArguments(parsed.arguments) == parsed, "wait-watchers arguments do not round-trip: \(arguments)")
    }
    if let parsed = ConformanceArguments(arguments) {
        require(ConformanceArguments(parsed.arguments) == parsed, "conformance arguments do not round-trip: \(arguments)")
    }
    if let parsed = BenchArguments(arguments) {
        require((1...BenchArguments.maximum).contains(parsed.mmapLoads) && (1...BenchArguments.maximum).contains(parsed.reads),
                "bench counts out of bounds: \(parsed)")
        require(BenchArguments(parsed.arguments) == parsed, "bench arguments do not round-trip: \(arguments)")
    }
    if let parsed = SlowWatcherArguments(arguments) {
        require(parsed.ackDelayMilliseconds <= SlowWatcherArguments.maximumDelayMilliseconds, "slow-watcher delay out of bounds")
        require(SlowWatcherArguments(parsed.arguments) == parsed, "slow-watcher arguments do not round-trip: \(arguments)")
    }
    if AgentSystemField.argumentsError(arguments) == nil {
        for unit in arguments {
            require(AgentSystemField.isUnitName(unit) && !unit.hasPrefix("-"), "unit \(unit.debugDescription) accepted")
        }
        require(AgentSystemField.isActiveArguments(arguments).prefix(2) == ["is-active", "--"], "systemctl options")
    }
    for argument in arguments {
        let key = AgentSystemField.unit(argument)
        require(key.utf8.allSatisfy(isKeyByte), "unit key \(key.debugDescription) is not a response key")
        let line = AgentResponse(id: 1, outcome: .ok([AgentField(key, argument)])).line
        requireRoundTrip(line, { try AgentResponse(line: $0) }, same: { $0[key].map(bytes) == bytes(argument) })
    }
}

/// `line` (one encoded message) parses, and `same` holds of the result;
/// or it is longer than the protocol allows and is refused.
private func requireRoundTrip<T>(_ line: String, _ parse: (String) throws -> T, same: (T) -> Bool) {
    require(line.hasSuffix("\n") && !line.dropLast().unicodeScalars.contains("\n"), "an encoded message is not one line")
    do {
        let again = try parse(line)
        require(same(again), "does not round-trip: \(line.debugDescription)")
    } catch {
        requireBounded(error)
        require(line.utf8.count - 1 > agentMaximumLineLength, "its own encoding is refused (\(error)): \(line.debugDescription)")
    }
}

private func requireCleanRefusal<T>(_ parse: () throws -> T) {
    do { _ = try parse() } catch { requireBounded(error) }
}

private func requireBounded(_ error: any Error) {
    guard let error = error as? AgentProtocolError else { fatalError("agent-message: a refusal that is not an AgentProtocolError: \(error)") }
    require(error.description.utf8.count <= 2048, "an error description of \(error.description.utf8.count) bytes")
}

private func sameEvent(_ a: AgentEvent, _ b: AgentEvent) -> Bool {
    bytes(a.name) == bytes(b.name) && a.fields.map(fieldBytes) == b.fields.map(fieldBytes)
}

private func sameResponse(_ a: AgentResponse, _ b: AgentResponse) -> Bool {
    guard a.id == b.id else { return false }
    switch (a.outcome, b.outcome) {
    case let (.ok(x), .ok(y)): return x.map(fieldBytes) == y.map(fieldBytes)
    case let (.error(x), .error(y)): return bytes(x) == bytes(y)
    default: return false
    }
}

// Byte equality: String's == is canonical equivalence, which would hide a
// change of encoding.
private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
private func fieldBytes(_ field: AgentField) -> [UInt8] { bytes(field.key) + [0] + bytes(field.value) }

private func isKeyByte(_ byte: UInt8) -> Bool {
    (0x61...0x7a).contains(byte) || (0x30...0x39).contains(byte) || byte == 0x5f
}

private func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    guard condition() else { fatalError("agent-message invariant violated: \(message())") }
}
