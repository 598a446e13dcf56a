import HummingbirdCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL

/// An HTTP child channel with one handler of ours in front of its base's pipeline, made afresh
/// for each connection: TLS whose certificate a SIGHUP can swap, and the request deadline.
struct HandlerInFront<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value

    let base: Base
    /// Called on the connection's event loop as it opens.
    let makeHandler: @Sendable () -> any ChannelHandler

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(makeHandler())
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

extension HandlerInFront {
    /// TLS in front, like HummingbirdTLS's `TLSChannel`, except that the `NIOSSLContext` is read
    /// from a shared box for each new connection: `TLSChannel` builds its context once from a
    /// `TLSConfiguration`, so a SIGHUP could not swap the certificate. Open connections keep the
    /// context they started with, as on the protocol port.
    static func reloadableTLS(_ base: Base, context: NIOLockedValueBox<NIOSSLContext>) -> Self {
        HandlerInFront(base: base) { NIOSSLServerHandler(context: context.withLockedValue { $0 }) }
    }

    /// The request deadline (`RequestDeadline.swift`), first in the pipeline so that it sees
    /// every byte, the TLS handshake's included.
    static func requestDeadline(_ base: Base, timeout: @escaping @Sendable () -> TimeAmount) -> Self {
        HandlerInFront(base: base) { RequestStartHandler(timeout: timeout()) }
    }
}
