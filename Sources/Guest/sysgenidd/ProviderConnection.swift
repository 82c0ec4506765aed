#if canImport(Glibc)
import Glibc
#endif
import SysGenID

/// One client connection of the provider: one open file's state. Served by
/// the provider's loop thread only: non-blocking, never waits for a client.
final class ProviderConnection {
    unowned let provider: Provider
    let fd: Int32
    let id: Int
    /// Taken at accept, never looked up again (PeerCredentials).
    let peer: PeerCredentials
    private var reader = ProviderRequestReader()
    private var output: [UInt8] = []

    /// A blocking request waiting for its condition (and deadline, ms).
    private var pending: (request: ProviderRequest, deadline: Int64?)?
    private var subscribed = false
    private var lastEvent: UInt32 = 0

    init(provider: Provider, fd: Int32, id: Int, peer: PeerCredentials) {
        self.provider = provider
        self.fd = fd
        self.id = id
        self.peer = peer
    }

    /// When the blocked request, if any, times out.
    var deadline: Int64? { pending?.deadline }

    /// Reads requests only while no reply waits to be sent: a client that
    /// does not read its replies stops being read.
    var pollEvents: Int16 { Int16(output.isEmpty ? POLLIN : POLLOUT) }

    /// Handles what poll() reported; false to drop the connection.
    func handle(events: Int16) -> Bool {
        if events & Int16(POLLOUT) != 0 && !flush() { return false }
        if events & Int16(POLLIN | POLLHUP | POLLERR) != 0 && output.isEmpty {
            var chunk = [UInt8](repeating: 0, count: 4096)
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count == 0 { return false }  // closed: close()
            if count < 0 { return errno == EINTR || errno == EAGAIN }
            reader.append(chunk[..<count])
            if !processInput() { return false }
        } else if events & Int16(POLLHUP | POLLERR) != 0 {
            return false
        }
        return flush()
    }

    /// Completes the blocked request and sends the event a state change
    /// calls for; false to drop the connection.
    func reevaluate() -> Bool {
        completePending()
        sendEvents()
        return flush()
    }

    /// Handles every complete line; false to drop the connection.
    private func processInput() -> Bool {
        while let item = reader.next() {
            let request: ProviderRequest
            switch item {
            case .request(let parsed):
                request = parsed
            case .refused(let error):
                if pending == nil { send(.error(.EINVAL, "\(error)")) }
                continue
            case .tooLong:
                send(.error(.EINVAL, "line too long"))
                return false
            }
            if request == .cancel {
                // Like a signal: the blocked call ends with EINTR. A cancel
                // that raced with the reply is dropped (nothing to answer).
                if pending != nil {
                    pending = nil
                    send(.error(.EINTR, "cancelled"))
                }
                continue
            }
            if pending != nil {
                send(.error(.EPROTO, "one request at a time"))
                return false
            }
            handle(request)
        }
        return true
    }

    private func handle(_ request: ProviderRequest) {
        switch request {
        case .hello:
            let counter = provider.counter
            send(.ok([("provider", "sysgenidd"), ("protocol", String(ProviderRequest.protocolVersion)),
                      ("counter", String(counter)), ("page", provider.pagePath)]))
        case let .read(count, nonBlocking):
            let outcome = provider.withState { $0.read(id, count: count, nonBlocking: nonBlocking) }
            switch outcome {
            case .empty: send(.ok([("bytes", "0")]))
            case .value(let value): send(.ok([("bytes", "4"), ("counter", String(value))]))
            case .failure(let error): send(.error(error, ""))
            case .wouldBlock: pending = (request, nil)
            }
        case .write(let bytes):
            if let error = provider.withState({ $0.write(id, bytes: bytes) }) { send(.error(error, "")) } else {
                send(.ok([("bytes", "4")]))
            }
        case .acknowledge(let value):
            if let error = provider.withState({ $0.acknowledge(id, value: value) }) { send(.error(error, "")) } else {
                send(.ok([("bytes", "4")]))
            }
        case .poll(let timeout):
            if provider.withState({ $0.readable(id) }) || timeout == 0 {
                send(.ok([("readable", provider.withState { $0.readable(id) } ? "1" : "0")]))
            } else {
                pending = (request, timeout < 0 ? nil : SysGenIDIoctl.deadline(now: monotonicMilliseconds(), after: Int64(timeout)))
            }
        case let .ioctl(requestNumber, argument):
            let privileged = requestNumber == SysGenIDIoctl.triggerGenUpdate && peer.mayTrigger
            let outcome = provider.withState {
                $0.ioctl(id, request: requestNumber, argument: argument, privileged: privileged)
            }
            switch outcome {
            case .success: send(.ok([]))
            case .triggered(let value):
                log("generation \(value) (TRIGGER by pid \(peer.pid))")
                send(.ok([("counter", String(value))]))
            case .failure(let error): send(.error(error, ""))
            case .wouldBlock:
                // WAIT_WATCHERS: argument = timeout in ms, 0 = none, at most
                // 2^32-1 ms as in the module (any client's number: no trap).
                pending = (request, SysGenIDIoctl.waitDeadline(now: monotonicMilliseconds(), argument: argument))
            }
        case .watchers:
            let w = provider.watchers()
            send(.ok([("counter", String(w.counter)), ("tracked", String(w.tracked)),
                      ("outdated", String(w.outdated)), ("clients", String(w.clients))]))
        case .subscribe:
            subscribed = true
            lastEvent = provider.counter
            send(.ok([("counter", String(lastEvent))]))
        case .cancel:
            break
        }
    }

    /// Re-evaluates the blocked request, if any.
    private func completePending() {
        guard let (request, deadline) = pending else { return }
        let expired = deadline.map { monotonicMilliseconds() >= $0 } ?? false
        switch request {
        case .read:
            if case .value(let value) = provider.withState({ $0.read(id, count: 4, nonBlocking: true) }) {
                pending = nil
                send(.ok([("bytes", "4"), ("counter", String(value))]))
            }
        case .poll:
            let readable = provider.withState { $0.readable(id) }
            if readable || expired {
                pending = nil
                send(.ok([("readable", readable ? "1" : "0")]))
            }
        case .ioctl:
            switch provider.withState({ $0.waitWatchers(id) }) {
            case .done:
                pending = nil
                send(.ok([]))
            case .failure(let error):
                pending = nil
                send(.error(error, "this connection is outdated"))
            case .wouldBlock:
                if expired {
                    pending = nil
                    send(.error(.ETIME, "watchers still outdated"))
                }
            }
        default:
            pending = nil
        }
    }

    private func sendEvents() {
        guard subscribed else { return }
        let counter = provider.counter
        if counter != lastEvent {
            lastEvent = counter
            send(.event(counter: counter))
        }
    }

    private func send(_ reply: ProviderReply) {
        output += Array(reply.line.utf8)
    }

    /// Sends what it can without blocking; false to drop the connection
    /// (an error, or too much unread).
    private func flush() -> Bool {
        var sent = 0
        while sent < output.count {
            let count = output[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN { break }
                return false
            }
            sent += count
        }
        output.removeFirst(sent)
        return output.count <= Provider.maximumPendingOutput
    }
}
