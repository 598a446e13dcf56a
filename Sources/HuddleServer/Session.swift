import HuddleProtocol
import NIOCore

/// An authenticated connection: who it is and where its bytes go. Immutable after `session.hello`.
public final class Session: Sendable {
    public let id: UInt64
    public let user: String
    public let role: Role
    public let tokenKey: String
    let outbox: Outbox

    init(id: UInt64, user: String, role: Role, tokenKey: String, outbox: Outbox) {
        self.id = id
        self.user = user
        self.role = role
        self.tokenKey = tokenKey
        self.outbox = outbox
    }

    func reply(_ id: RPCID, _ result: JSONValue) {
        outbox.enqueue(RPCFrame.result(id: id, result))
    }

    func reply(_ id: RPCID, error: RPCError) {
        outbox.enqueue(RPCFrame.error(id: id, error))
    }

    func close(_ reason: ClosingReason) {
        outbox.closeAfter(RPCFrame.notification("session.closing", ["reason": .string(reason.rawValue)]))
    }
}
