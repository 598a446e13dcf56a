import HuddleProtocol
import Testing

@testable import HuddleClient

@Suite struct CursorTests {
    func event(_ seq: Int64, stream: EventStream = .team) -> EventNotification {
        EventNotification(team: "floor-a", stream: stream, seq: seq, type: "message", at: nil, params: [:])
    }

    func join(epoch: String, seq: Int64, supervisorsSeq: Int64? = nil, recovered: Bool) throws -> JoinResult {
        var result: [String: JSONValue] = [
            "epoch": .string(epoch), "seq": .int(seq), "recovered": .bool(recovered), "snapshot": ["members": []],
        ]
        if let supervisorsSeq { result["supervisors_seq"] = .int(supervisorsSeq) }
        return try JoinResult(team: "floor-a", json: .object(result))
    }

    @Test func freshJoinThenLiveEvents() throws {
        var cursor = Cursor(positions: [:])
        cursor.joined(try join(epoch: "e1", seq: 10, recovered: false))
        #expect(cursor.accept(event(11)) == .next)
        #expect(cursor.accept(event(11)) == .duplicate)
        #expect(cursor.accept(event(14)) == .gap(expected: 12))
        #expect(cursor.positions["floor-a"] == ReplayPosition(epoch: "e1", seq: 14))
    }

    @Test func recoveredJoinLetsReplayedEventsThrough() throws {
        var cursor = Cursor(positions: ["floor-a": ReplayPosition(epoch: "e1", seq: 5, supervisorsSeq: 2)])
        // The join answer is handled before the replayed events buffered ahead of it are relayed.
        cursor.joined(try join(epoch: "e1", seq: 8, supervisorsSeq: 3, recovered: true))
        #expect(cursor.accept(event(6)) == .next)
        #expect(cursor.accept(event(7)) == .next)
        #expect(cursor.accept(event(3, stream: .supervisors)) == .next)
        #expect(cursor.accept(event(8)) == .next)
        #expect(cursor.positions["floor-a"] == ReplayPosition(epoch: "e1", seq: 8, supervisorsSeq: 3))
    }

    @Test func unrecoveredJoinStartsOverInTheNewEpoch() throws {
        var cursor = Cursor(positions: ["floor-a": ReplayPosition(epoch: "e1", seq: 500)])
        cursor.joined(try join(epoch: "e2", seq: 3, recovered: false))
        #expect(cursor.accept(event(4)) == .next)
        #expect(cursor.positions["floor-a"] == ReplayPosition(epoch: "e2", seq: 4))
    }

    @Test func retryableErrors() {
        #expect(TeamWatcher.isRetryable(ConnectionClosed(reason: "shutdown")))
        #expect(TeamWatcher.isRetryable(RPCError(.rateLimited, "slow down")))
        #expect(!TeamWatcher.isRetryable(RPCError(.notAuthenticated, "no")))
        #expect(!TeamWatcher.isRetryable(RPCError(.unknownEntity, "no such team")))
    }
}
