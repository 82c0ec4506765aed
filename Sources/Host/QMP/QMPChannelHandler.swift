import NIOCore

/// Last handler of the pipeline: feeds each line from ``LineFrameDecoder`` to
/// the ``QMPConnection`` and tells it when the connection ends.
final class QMPChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let connection: QMPConnection

    init(connection: QMPConnection) {
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        connection.receive(Self.unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.shutDown(error: nil)
        context.fireChannelInactive()
    }

    /// A decoder error (an over-long message) fails everything waiting with
    /// that error; an I/O error (a reset) counts as the connection closing.
    /// Either way the connection is closed.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? QMPError {
            connection.shutDown(error: error)
        } else {
            connection.logger.debug("QMP connection error", metadata: ["error": "\(error)"])
            connection.shutDown(error: nil)
        }
        context.close(promise: nil)
    }
}
