import NIOConcurrencyHelpers
import NIOCore

/// Bounds the connections accepted but not yet set up by their event loop. Admission (and the
/// reset of a refused connection) happens in the child channel's initializer, on the child's
/// event loop; while a flood keeps those loops busy with handshakes, accepted sockets could
/// otherwise queue there without bound, each holding a descriptor. At `limit` waiting, the
/// listening socket stops reading (the kernel's backlog holds the rest, at no descriptor of
/// ours) until half of them have been set up or closed.
final class AcceptGate: Sendable {
    private struct State {
        var waiting = Set<ObjectIdentifier>()
        var paused = false
    }

    let limit: Int
    private let state = NIOLockedValueBox(State())

    init(limit: Int) {
        self.limit = limit
    }

    /// The handler for the listening channel's pipeline: it sees each accepted channel first.
    func handler() -> Handler { Handler(gate: self) }

    /// A channel was accepted: true when the listener must stop reading.
    fileprivate func accepted(_ child: any Channel) -> Bool {
        let id = ObjectIdentifier(child)
        // A channel that never gets as far as its initializer (its registration failed) still
        // leaves the count when it closes.
        child.closeFuture.whenComplete { [self] _ in self.settled(child) }
        return state.withLockedValue { state in
            state.waiting.insert(id)
            guard state.waiting.count >= limit, !state.paused else { return false }
            state.paused = true
            return true
        }
    }

    /// The accepted channel's initializer ran (or it closed first). Resumes the listener, its
    /// parent, once the waiting are down to half the limit.
    func settled(_ child: any Channel) {
        let resume = state.withLockedValue { state -> Bool in
            guard state.waiting.remove(ObjectIdentifier(child)) != nil else { return false }
            guard state.paused, state.waiting.count <= limit / 2 else { return false }
            state.paused = false
            return true
        }
        if resume, let listener = child.parent {
            listener.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
        }
    }

    var waiting: Int { state.withLockedValue { $0.waiting.count } }

    final class Handler: ChannelInboundHandler, Sendable {
        typealias InboundIn = any Channel
        let gate: AcceptGate

        init(gate: AcceptGate) {
            self.gate = gate
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let child = unwrapInboundIn(data)
            if gate.accepted(child) {
                context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
            }
            context.fireChannelRead(data)
        }
    }
}
