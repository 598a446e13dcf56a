import NIOConcurrencyHelpers
import NIOCore

/// Every open connection, authenticated or not, so that a shutdown can tell each one.
final class ConnectionRegistry: Sendable {
    private let outboxes = NIOLockedValueBox([ObjectIdentifier: Outbox]())

    func add(_ outbox: Outbox) {
        outboxes.withLockedValue { $0[ObjectIdentifier(outbox)] = outbox }
    }

    func remove(_ outbox: Outbox) {
        outboxes.withLockedValue { $0[ObjectIdentifier(outbox)] = nil }
    }

    var all: [Outbox] { outboxes.withLockedValue { Array($0.values) } }
    var count: Int { outboxes.withLockedValue { $0.count } }
}
