// libFuzzer target for the requests local users send sysgenidd's provider
// socket (Sources/Guest/SysGenID: ProviderRequestReader, ProviderProtocol).
//
// Built by Fuzz/run with the files of SysGenID a request goes through:
// ProviderRequestReader, ProviderProtocol, Errno and GenerationState (the
// counter and watchers a request acts on). Byte 0 of the input: bit 0, the
// peer may TRIGGER (root); bits 1-7, where the rest is cut into two chunks
// as recv() might deliver it. The rest is what the peer sends.
//
// Invariants (a violation traps, so libFuzzer reports a crash):
//   - reading never traps, and the chunks give the same requests as the
//     whole; no line longer than `ProviderRequest.maximumLineLength` is parsed;
//   - an accepted request's `line` is one line within that limit that parses
//     back to it; a refusal's reply (`err EINVAL <reason>`) is one line;
//   - acting on a request as the provider does (GenerationState, deadlines
//     from any "now") never traps: the counter moves only by a privileged
//     TRIGGER, by at most `SysGenIDIoctl.triggerMaximumStep`, never down;
//     watcher counts stay within 0...clients; deadlines saturate.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProviderRequest(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: size > 0 ? data : nil, count: size))
    guard let flags = input.first else { return 0 }
    let stream = input.dropFirst()
    let mayTrigger = flags & 1 != 0
    let cut = stream.startIndex + Int(flags >> 1) * stream.count / 128

    var whole = ProviderRequestReader()
    whole.append(stream)
    let items = drain(&whole)
    var chunked = ProviderRequestReader()
    chunked.append(stream[..<cut])
    var chunkedItems = drain(&chunked)
    if chunkedItems.last != .tooLong {
        chunked.append(stream[cut...])
        chunkedItems += drain(&chunked)
    }
    require(items == chunkedItems, "two chunks read differently from the whole")

    var state = GenerationState(counter: UInt32(truncatingIfNeeded: size &* 2_654_435_761))
    let id = state.open()
    let tracked = state.open()
    state.setTracking(tracked, true)
    let now = Int64(truncatingIfNeeded: UInt64(size) &* 0x9E37_79B9_7F4A_7C15)
    for item in items {
        switch item {
        case .request(let request):
            let line = request.line
            require(line.utf8.count <= ProviderRequest.maximumLineLength + 1 && isOneLine(line), "request line \(line)")
            require((try? ProviderRequest(line: line)) == request, "does not round-trip: \(line)")
            act(request, on: &state, client: id, mayTrigger: mayTrigger, now: now)
        case .refused(let error):
            require(isOneLine(ProviderReply.error(.EINVAL, "\(error)").line), "refusal reply is not one line")
        case .tooLong:
            break
        }
    }
    // Whatever a message holds, its reply is one line.
    require(isOneLine(ProviderReply.error(.EINVAL, String(decoding: stream, as: UTF8.self)).line),
            "a reply with a newline in it")
    return 0
}

private func drain(_ reader: inout ProviderRequestReader) -> [ProviderRequestReader.Item] {
    var items: [ProviderRequestReader.Item] = []
    while let item = reader.next() {
        items.append(item)
        if item == .tooLong { break }  // the provider drops the connection
    }
    return items
}

/// What ProviderConnection.handle does with a request, minus the socket.
private func act(_ request: ProviderRequest, on state: inout GenerationState, client id: Int, mayTrigger: Bool, now: Int64) {
    let before = state.counter
    switch request {
    case let .read(count, nonBlocking):
        _ = state.read(id, count: count, nonBlocking: nonBlocking)
    case .write(let bytes):
        _ = state.write(id, bytes: bytes)
    case .acknowledge(let value):
        _ = state.acknowledge(id, value: value)
    case .poll(let timeout):
        if timeout >= 0 {
            let deadline = SysGenIDIoctl.deadline(now: now, after: Int64(timeout))
            require(deadline >= now || deadline == .max, "poll deadline before now")
        }
    case let .ioctl(number, argument):
        let privileged = number == SysGenIDIoctl.triggerGenUpdate && mayTrigger
        let outcome = state.ioctl(id, request: number, argument: argument, privileged: privileged)
        if outcome == .wouldBlock, let deadline = SysGenIDIoctl.waitDeadline(now: now, argument: argument) {
            let latest = now.addingReportingOverflow(Int64(SysGenIDIoctl.maximumWaitMilliseconds))
            require(deadline > now || deadline == .max, "wait deadline not after now")
            require(latest.overflow || deadline <= latest.partialValue, "wait longer than 2^32-1 ms")
        }
        if case .triggered(let value) = outcome {
            require(privileged, "an unprivileged TRIGGER")
            require(value == state.counter && value > before
                        && (value == before + 1 || UInt64(value) <= UInt64(before) + SysGenIDIoctl.triggerMaximumStep),
                    "TRIGGER moved \(before) to \(value)")
        }
    case .hello, .watchers, .subscribe, .cancel:
        break
    }
    if case .ioctl(SysGenIDIoctl.triggerGenUpdate, _) = request, state.counter != before {
        require(mayTrigger, "the counter moved without a privileged TRIGGER")
    } else {
        require(state.counter == before, "the counter moved without a TRIGGER")
    }
    require(0 <= state.outdatedTrackedCount && state.outdatedTrackedCount <= state.trackedCount
                && state.trackedCount <= state.clients.count,
            "watcher counts \(state.outdatedTrackedCount)/\(state.trackedCount)/\(state.clients.count)")
}

private func isOneLine(_ line: String) -> Bool {
    line.hasSuffix("\n") && !line.unicodeScalars.dropLast().contains { $0 == "\n" || $0 == "\r" }
}

private func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    guard condition() else { fatalError("provider-request invariant violated: \(message())") }
}
