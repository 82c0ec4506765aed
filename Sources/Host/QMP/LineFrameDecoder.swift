import NIOCore

/// Splits a byte stream into lines: each ends at `\n`; a `\r` before it and
/// surrounding spaces and tabs are trimmed; blank lines are skipped.
/// A line longer than `maximumLength` bytes (counting what precedes the `\n`,
/// a `\r` included) is an error, raised as soon as that many bytes arrive.
public struct LineSplitter: Sendable {
    public static let defaultMaximumLength = 16 * 1024 * 1024

    let maximumLength: Int
    /// Bytes of the buffer already searched for `\n`, so a long line is not rescanned.
    private var scanned = 0

    public init(maximumLength: Int = Self.defaultMaximumLength) {
        self.maximumLength = maximumLength
    }

    /// Takes the next non-blank line out of `buffer`, or returns `nil` when
    /// `buffer` holds no complete line yet.
    mutating func nextLine(from buffer: inout ByteBuffer) throws(QMPError) -> ByteBuffer? {
        while true {
            let view = buffer.readableBytesView
            guard let newline = view.dropFirst(scanned).firstIndex(of: UInt8(ascii: "\n")) else {
                scanned = view.count
                if scanned > maximumLength { throw tooLong(buffer) }
                return nil
            }
            let length = newline - view.startIndex
            scanned = 0
            if length > maximumLength { throw tooLong(buffer) }
            var line = buffer.readSlice(length: length)!
            buffer.moveReaderIndex(forwardBy: 1)
            line.trimQMPWhitespace()
            if line.readableBytes > 0 { return line }
        }
    }

    private func tooLong(_ buffer: ByteBuffer) -> QMPError {
        .malformedMessage(text: QMPError.excerpt(bytes: buffer.readableBytesView),
                          reason: "message longer than \(maximumLength) bytes")
    }
}

extension ByteBuffer {
    fileprivate mutating func trimQMPWhitespace() {
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A }
        while let last = readableBytesView.last, isSpace(last) { moveWriterIndex(to: writerIndex - 1) }
        while let first = readableBytesView.first, isSpace(first) { moveReaderIndex(forwardBy: 1) }
    }
}

/// NIO decoder: a byte stream in, one `ByteBuffer` per line out. QMP uses it,
/// and so does the lab's guest agent client, whose protocol is also lines.
/// An over-long line fails the pipeline with `QMPError.malformedMessage`;
/// bytes left without a final `\n` at EOF are dropped.
public struct LineFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer

    private var splitter: LineSplitter

    public init(maximumLength: Int = LineSplitter.defaultMaximumLength) {
        splitter = LineSplitter(maximumLength: maximumLength)
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let line = try splitter.nextLine(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(line))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        while try decode(context: context, buffer: &buffer) == .continue {}
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .needMoreData
    }
}
