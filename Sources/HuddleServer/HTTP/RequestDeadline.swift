import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes

/// Bounds how long one HTTP request may take to arrive: from the connection's opening, or from
/// the first byte after the previous answer, the whole request (TLS handshake, headers, body)
/// must be in within `http-request-timeout-s`, or the connection is closed. Hummingbird's idle
/// timeout alone would let a client trickle a body one byte every 59 s and hold one of the
/// side's connections for as long as it likes. Idle keep-alive connections between requests
/// are not timed here (the idle timeout closes them).
///
/// Two handlers share one connection's clock: `RequestStartHandler` first in the pipeline (it
/// sees every byte, the handshake's included) arms it, `RequestEndHandler` after the HTTP codec
/// (it sees where requests and answers end) disarms it at the request's end and marks the
/// connection idle once the answer is written.
/// `HandlerInFront.requestDeadline` puts `RequestStartHandler` in front of each connection.
final class RequestStartHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let timeout: TimeAmount
    /// True between an answer's end and the next request's first byte.
    var idle = false
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context.channel, loop: context.eventLoop)
        context.fireChannelActive()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context.channel, loop: context.eventLoop) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if idle {
            idle = false
            arm(context.channel, loop: context.eventLoop)
        }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func disarm() {
        timer?.cancel()
        timer = nil
    }

    private func arm(_ channel: any Channel, loop: any EventLoop) {
        guard timer == nil else { return }
        timer = loop.assumeIsolated().scheduleTask(in: timeout) {
            ServerMetrics.httpRequestTimedOut()
            channel.close(promise: nil)
        }
    }
}

final class RequestEndHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var start: RequestStartHandler?

    init() {}

    func handlerAdded(context: ChannelHandlerContext) {
        start = try? context.pipeline.syncOperations.handler(type: RequestStartHandler.self)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data) { start?.disarm() }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { start?.idle = true }
        context.write(data, promise: promise)
    }
}
