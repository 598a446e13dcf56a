import NIOCore
import NIOExtras

/// What the channel initializer hands back to `connect`.
struct ConnectedChannel: Sendable {
    var channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
    /// The server certificate's fingerprint once the handshake is done; nil right away without TLS.
    var handshake: EventLoopFuture<String?>

    /// Runs on the event loop before the socket connects: TLS, the line framer, then the bridge
    /// to async code.
    static func configure(
        _ channel: any Channel, trust: TLSTrust, host: String, handshakeTimeout: TimeAmount, maximumLineBytes: Int
    ) throws -> ConnectedChannel {
        let sync = channel.pipeline.syncOperations
        let usesTLS = try trust.addHandlers(to: sync, serverHostname: host) != nil
        let handshake = channel.eventLoop.makePromise(of: String?.self)
        do {
            if usesTLS {
                try sync.addHandler(HandshakeWaiter(promise: handshake, timeout: handshakeTimeout))
            } else {
                handshake.succeed(nil)
            }
            try sync.addHandler(
                ByteToMessageHandler(LineBasedFrameDecoder(), maximumBufferSize: maximumLineBytes))
            let asyncChannel = try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                wrappingChannelSynchronously: channel,
                configuration: .init(backPressureStrategy: .init(lowWatermark: 16, highWatermark: 256)))
            return ConnectedChannel(channel: asyncChannel, handshake: handshake.futureResult)
        } catch {
            handshake.fail(error)
            throw error
        }
    }
}
