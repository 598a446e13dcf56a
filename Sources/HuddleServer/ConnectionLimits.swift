import NIOConcurrencyHelpers
import NIOCore

/// Who may hold a connection on the protocol port (PROTOCOL.md §14): at most `max-connections`
/// in all, at most `max-unauthenticated` that have not said hello yet, and at most
/// `max-unauthenticated-per-address` of those from one address.
///
/// A flood is made of connections that never authenticate, so those are what the limits count:
/// a session that has said hello no longer counts against its address (a floor behind one NAT
/// address can hold thousands), only against the total. When too many connections wait for
/// their hello, the oldest is closed to make room rather than refusing the new one: a client
/// that means it finishes its handshake and hello in milliseconds, a stalled one holds its slot
/// until the authentication deadline, so evicting by age keeps the door open for newcomers
/// while a flood of stalled handshakes goes on. One address over its share is refused at once.
final class ConnectionLimits: Sendable {
    enum Refusal: String, Error, Sendable {
        /// `max-connections` reached.
        case total
        /// `max-unauthenticated-per-address` reached by the connection's address.
        case perAddress = "per_address"
    }

    /// One admitted connection, handed back when it authenticates and when it closes.
    struct Ticket: Sendable, Hashable {
        fileprivate let number: UInt64
    }

    private struct Waiting {
        let address: String
        let channel: any Channel
    }

    private struct State {
        var total = 0
        var waiting: [UInt64: Waiting] = [:]
        /// Admission order of the waiting connections, oldest first; entries of connections
        /// that have since authenticated or closed are skipped when met (and compacted away).
        var order = CircularBuffer<UInt64>()
        var perAddress: [String: Int] = [:]
        var next: UInt64 = 0

        mutating func stopWaiting(_ number: UInt64) {
            guard let entry = waiting.removeValue(forKey: number) else { return }
            if let count = perAddress[entry.address], count > 1 {
                perAddress[entry.address] = count - 1
            } else {
                perAddress[entry.address] = nil
            }
            if order.count > 2 * waiting.count + 64 {
                order = CircularBuffer(order.filter { waiting[$0] != nil })
            }
        }
    }

    private let state = NIOLockedValueBox(State())

    /// Admits a new connection from `address`, or says why not. When the unauthenticated cap is
    /// reached the oldest waiting connection is closed (`evicted` is told) to make room.
    func admit(
        _ channel: any Channel, address: String, limits: ServerConfiguration, fileBudget: Int, evicted: () -> Void
    ) -> Result<Ticket, Refusal> {
        let (result, victim): (Result<Ticket, Refusal>, (any Channel)?) = state.withLockedValue { state in
            guard state.total < min(limits.maxConnections, fileBudget) else { return (.failure(.total), nil) }
            guard state.perAddress[address, default: 0] < limits.maxUnauthenticatedPerAddress else {
                return (.failure(.perAddress), nil)
            }
            var victim: (any Channel)?
            if state.waiting.count >= limits.maxUnauthenticated {
                while let oldest = state.order.popFirst() {
                    guard let entry = state.waiting[oldest] else { continue }
                    victim = entry.channel
                    state.stopWaiting(oldest)
                    break
                }
            }
            state.next += 1
            let number = state.next
            state.total += 1
            state.waiting[number] = Waiting(address: address, channel: channel)
            state.order.append(number)
            state.perAddress[address, default: 0] += 1
            return (.success(Ticket(number: number)), victim)
        }
        if let victim {
            evicted()
            victim.close(promise: nil)
        }
        return result
    }

    /// The connection said hello: it no longer counts as waiting (nor against its address).
    func authenticated(_ ticket: Ticket) {
        state.withLockedValue { $0.stopWaiting(ticket.number) }
    }

    /// The connection closed.
    func closed(_ ticket: Ticket) {
        state.withLockedValue { state in
            state.stopWaiting(ticket.number)
            state.total -= 1
        }
    }
}
