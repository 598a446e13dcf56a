import HummingbirdCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL

/// TLS in front of an HTTP child channel, like HummingbirdTLS's `TLSChannel`, except that the
/// `NIOSSLContext` is read from a shared box for each new connection: `TLSChannel` builds its
/// context once from a `TLSConfiguration`, so a SIGHUP could not swap the certificate. Open
/// connections keep the context they started with, as on the protocol port.
struct ReloadableTLSChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value

    let base: Base
    let context: NIOLockedValueBox<NIOSSLContext>

    init(_ base: Base, context: NIOLockedValueBox<NIOSSLContext>) {
        self.base = base
        self.context = context
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let sslContext = context.withLockedValue { $0 }
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext))
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}
