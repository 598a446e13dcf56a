import NIOCore
import NIOSSL
import NIOTLS

/// Completes `promise` with the server certificate's SHA-256 fingerprint once the TLS handshake is
/// done, so that `connect` can report TLS failures itself and `huddle login` can show the
/// fingerprint before any token is sent. Removes itself afterwards.
final class HandshakeWaiter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let promise: EventLoopPromise<String?>
    private let timeout: TimeAmount
    private var timer: Scheduled<Void>?

    init(promise: EventLoopPromise<String?>, timeout: TimeAmount) {
        self.promise = promise
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let promise = self.promise
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: timeout) {
            promise.fail(HandshakeTimedOut())
            channel.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        promise.fail(ChannelError.ioOnClosedChannel)  // no-op when already completed
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tlsEvent = event as? TLSUserEvent, case .handshakeCompleted = tlsEvent {
            timer?.cancel()
            timer = nil
            let der = try? context.pipeline.syncOperations.nioSSL_peerCertificate()?.toDERBytes()
            promise.succeed(der.map { TLSTrust.sha256Fingerprint(der: $0) })
            context.fireUserInboundEventTriggered(event)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(ChannelError.eof)
        context.fireChannelInactive()
    }
}
