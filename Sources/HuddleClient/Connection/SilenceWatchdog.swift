import NIOCore

/// Closes the channel when the server has sent nothing for `limit`: the server sends a heartbeat
/// whenever it has been quiet for `heartbeat_s`, so a longer silence means a dead path (a NAT
/// that forgot us, a cable pulled) that TCP alone would notice only after many minutes.
final class SilenceWatchdog: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let limit: TimeAmount
    private var lastRead: NIODeadline = .now()
    private var timer: Scheduled<Void>?

    init(limit: TimeAmount) {
        self.limit = limit
    }

    func handlerAdded(context: ChannelHandlerContext) {
        lastRead = .now()
        schedule(context: context, in: limit)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastRead = .now()
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    private func schedule(context: ChannelHandlerContext, in delay: TimeAmount) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: delay) {
            let (watchdog, context) = loopBound.value
            watchdog.check(context: context)
        }
    }

    private func check(context: ChannelHandlerContext) {
        let quiet = NIODeadline.now() - lastRead
        if quiet >= limit {
            context.fireErrorCaught(ServerSilent(seconds: limit.nanoseconds / 1_000_000_000))
            context.close(promise: nil)
        } else {
            schedule(context: context, in: limit - quiet)
        }
    }
}
