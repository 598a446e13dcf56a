import HuddleProtocol
import NIOCore
import NIOEmbedded
import Testing

@testable import HuddleServer
@testable import HuddleStore

@Suite struct SessionTests {
    func session(on channel: EmbeddedChannel, outbox: Outbox? = nil) -> Session {
        let outbox = outbox ?? Outbox(channel: channel, writeTimeout: .seconds(10)) {}
        return Session(id: 1, user: "alice", role: .agent, tokenKey: "k", outbox: outbox)
    }

    /// One connection may not queue more history reads than it is served.
    @Test func readsInFlightAreCappedPerSession() throws {
        let channel = EmbeddedChannel()
        let session = session(on: channel)
        for _ in 0..<Session.maxReadsInFlight { try session.beginRead() }
        do {
            try session.beginRead()
            Issue.record("a read beyond the cap was admitted")
        } catch {
            #expect(error.code == .rateLimited)
            #expect(error.data?["reason"] == "reads_in_flight" && error.data?["retry_after_ms"] == 100)
        }
        session.endRead()
        try session.beginRead()
        _ = try channel.finish()
    }

    /// Work queued for a connection that is closing or gone is dropped.
    @Test func aSealedOrClosedSessionIsNotOpen() throws {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let outbox = Outbox(channel: channel, writeTimeout: .seconds(10)) {}
        let session = session(on: channel, outbox: outbox)
        #expect(session.isOpen)
        outbox.seal()
        #expect(!session.isOpen)
        _ = try channel.finish()
    }
}

@Suite struct RPCFrameSplicingTests {
    /// A spliced result is byte for byte what encoding the same value gives.
    @Test func aSplicedResultEqualsTheEncodedOne() throws {
        let event = Event(team: "floor-a", seq: 7, at: Timestamp(milliseconds: 1_795_425_302_120), payload: .message(user: "alice", text: "hi \"there\""))
        let stored = Array(event.encodedLine().dropLast())
        let params = try #require(Event.params(ofStoredLine: stored))
        let spliced = RPCFrame.result(id: .int(4), raw: Array(#"{"events":["#.utf8) + params + Array("]}".utf8))
        let encoded = RPCFrame.result(id: .int(4), ["events": .array([event.params])])
        #expect(spliced == encoded)
        #expect(Hub.eventsResult([.init(seq: 7, line: stored)]) == Array(#"{"events":["#.utf8) + params + Array("]}".utf8))
        #expect(Event.params(ofStoredLine: Array("{}".utf8)) == nil)
    }
}
