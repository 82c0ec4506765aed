import NIOCore
import NIOPosix
import QMP

/// A UNIX-socket connection that delivers one line at a time: how the
/// host talks to a guest agent behind a QEMU chardev socket, whether the
/// genid agent (`AgentClient`) or the QEMU guest agent.
public enum LineChannel {
    /// A line (without its `\n`) and when it was read off the socket, or
    /// the end of the connection.
    public enum Event: Sendable {
        case line(ByteBuffer, ContinuousClock.Instant)
        case closed
    }

    /// Connects to `path` and hands every event to `onEvent`, on the
    /// channel's event loop. A line longer than `maximumLength` closes it.
    public static func connect(unixSocketPath path: String, maximumLength: Int = LineSplitter.defaultMaximumLength,
                               group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                               onEvent: @escaping @Sendable (Event) -> Void) async throws -> any Channel {
        try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineFrameDecoder(maximumLength: maximumLength)))
                    try channel.pipeline.syncOperations.addHandler(LineHandler(onEvent: onEvent))
                }
            }
            .connect(unixDomainSocketPath: path).get()
    }
}

/// Hands each line (or the end of the connection) on.
private final class LineHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let onEvent: @Sendable (LineChannel.Event) -> Void

    init(onEvent: @escaping @Sendable (LineChannel.Event) -> Void) {
        self.onEvent = onEvent
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let arrived = ContinuousClock.now
        onEvent(.line(unwrapInboundIn(data), arrived))
    }

    func channelInactive(context: ChannelHandlerContext) {
        onEvent(.closed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
