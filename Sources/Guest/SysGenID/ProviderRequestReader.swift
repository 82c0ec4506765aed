/// One provider connection's incoming bytes, cut into lines and parsed:
/// the provider's only parse of what a local user sends, kept free of I/O
/// so that the `provider-request` fuzz target runs exactly this.
///
/// A line is at most `ProviderRequest.maximumLineLength` bytes, whether its
/// newline came yet or not; a longer one ends the connection.
public struct ProviderRequestReader {
    public enum Item: Equatable, Sendable {
        case request(ProviderRequest)
        /// Answered `err EINVAL <reason>`; the connection goes on.
        case refused(ProviderProtocolError)
        /// Answered `err EINVAL line too long`; the connection ends.
        case tooLong
    }

    private var input: [UInt8] = []
    /// Where the unread bytes start: consumed lines are dropped once per
    /// `append`, not once per line (a chunk of 4096 one-byte lines would
    /// otherwise move the buffer 4096 times).
    private var start = 0

    public init() {}

    public mutating func append(_ bytes: some Sequence<UInt8>) {
        input.removeFirst(start)
        start = 0
        input += bytes
    }

    /// The next line's request or refusal; nil until a newline comes.
    public mutating func next() -> Item? {
        let unread = input[start...]
        guard let newline = unread.firstIndex(of: UInt8(ascii: "\n")) else {
            return unread.count > ProviderRequest.maximumLineLength ? .tooLong : nil
        }
        guard newline - start <= ProviderRequest.maximumLineLength else { return .tooLong }
        let line = String(decoding: input[start..<newline], as: UTF8.self)
        start = newline + 1
        do {
            return .request(try ProviderRequest(line: line))
        } catch {
            return .refused(error)
        }
    }
}
