import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// `GET /metrics` in Prometheus' text format; everything else is 404.
/// Read-only, so it may listen beyond localhost if the operator wants; so
/// any local user can reach it, and it holds at most
/// `DescriptorBudget.metricsConnections` at once, each for at most
/// `connectionDeadline` (a scrape takes milliseconds), and waits out a
/// shortage of descriptors.
final class MetricsServer: Service {
    static let connectionDeadline = TimeAmount.seconds(10)

    let endpoint: MetricsEndpoint
    let maximumConnections: Int
    let metrics: DaemonMetrics
    let logger: Logger

    init(endpoint: MetricsEndpoint, budget: DescriptorBudget, metrics: DaemonMetrics, logger: Logger) {
        self.endpoint = endpoint
        maximumConnections = budget.metricsConnections
        self.metrics = metrics
        self.logger = logger
    }

    func run() async throws {
        let metrics = self.metrics
        let open = ConnectionLimits(total: maximumConnections, perUser: maximumConnections)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                // NIO's plain bind retries a failed accept at once, forever:
                // wait instead, and count it.
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AcceptBackoffHandler { error in
                        metrics.acceptFailure(server: "metrics", errno: error.errnoCode)
                        return .milliseconds(250)
                    })
                }
            }
            .childChannelInitializer { channel in
                // The TCP peer's uid is unknown: one shared limit.
                guard case .success(let admission) = open.admit(uid: 0) else {
                    metrics.metricsRefused()
                    return channel.close()
                }
                channel.closeFuture.whenComplete { _ in admission.release() }
                let deadline = channel.eventLoop.scheduleTask(in: Self.connectionDeadline) { channel.close(promise: nil) }
                channel.closeFuture.whenComplete { _ in deadline.cancel() }
                return channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(MetricsHandler(metrics: metrics))
                }
            }
            .bind(host: endpoint.host, port: endpoint.port).get()
        logger.info("metrics endpoint listening", metadata: ["address": "\(endpoint.host):\(endpoint.port)"])
        await withGracefulShutdownHandler {
            try? await channel.closeFuture.get()
        } onGracefulShutdown: {
            channel.close(promise: nil)
        }
    }
}

private final class MetricsHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let metrics: DaemonMetrics
    private var path = ""

    init(metrics: DaemonMetrics) { self.metrics = metrics }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): path = head.uri
        case .body: break
        case .end:
            let found = path == "/metrics" || path.hasPrefix("/metrics?")
            let body = found ? metrics.text() : "not found: try /metrics\n"
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: found ? "text/plain; version=0.0.4" : "text/plain")
            headers.add(name: "Content-Length", value: String(body.utf8.count))
            headers.add(name: "Connection", value: "close")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: found ? .ok : .notFound,
                                                                 headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
            let boundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in boundContext.value.close(promise: nil) }
        }
    }
}
