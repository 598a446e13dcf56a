import Foundation
import HuddleCore
import HuddleProtocol
import Testing

@testable import HuddleStore

@Suite struct StoreTests {
    let directory: String
    let now = Timestamp(milliseconds: 1_795_425_302_120)

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("huddle-store-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func open() throws -> Store { try Store(path: "\(directory)/huddle.sqlite") }

    @Test func tokensAreStoredOnlyAsHashesAndCheckedExactly() async throws {
        let store = try open()
        try store.addTeam("floor-a", now: now)
        let token = try store.addUser("alice", role: .agent, teams: ["floor-a"], now: now)
        #expect(token.hasPrefix("hdl_"))
        #expect(try await store.authenticate(token)?.name == "alice")
        var wrong = Array(token.utf8)
        wrong[wrong.count - 1] = wrong.last == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
        #expect(try await store.authenticate(String(decoding: wrong, as: UTF8.self)) == nil)
        #expect(try await store.authenticate("nonsense") == nil)
        try store.close()
        let raw = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/huddle.sqlite"))
        #expect(raw.range(of: Data(token.split(separator: "_")[2].utf8)) == nil)
    }

    @Test func rotatingATokenRevokesTheOldOne() async throws {
        let store = try open()
        let old = try store.addUser("sam", role: .supervisor, teams: [], now: now)
        let new = try store.rotateToken("sam")
        #expect(try await store.authenticate(old) == nil)
        #expect(try await store.authenticate(new)?.name == "sam")
        #expect(throws: Store.StoreError.self) { try store.rotateToken("nobody") }
    }

    @Test func refusesUnknownTeamsAndDuplicateUsers() throws {
        let store = try open()
        #expect(throws: Store.StoreError.self) { try store.addUser("a", role: .agent, teams: ["nope"], now: now) }
        _ = try store.addUser("a", role: .agent, teams: [], now: now)
        #expect(throws: Store.StoreError.self) { try store.addUser("a", role: .agent, teams: [], now: now) }
        #expect(throws: Store.StoreError.self) { try store.addUser("bad name", role: .agent, teams: [], now: now) }
        #expect(try store.addTeam("t", now: now))
        #expect(try store.addTeam("t", now: now) == false)
    }

    @Test func committedEventsSurviveReopeningWithState() async throws {
        var store: Store? = try open()
        try store!.addTeam("floor-a", now: now)
        _ = try store!.addUser("alice", role: .agent, teams: ["floor-a"], now: now)
        var floor = try store!.loadFloor().floor
        var events: [Event] = []
        events += floor.setPresence(user: "alice", connected: true, now: now)
        floor.teams["floor-a"]?.policy.minAvailable = .fixed(0)
        events += try floor.setOwnStatus(
            user: "alice", StatusRequest(status: .onBreak, note: "brb", expectedSeconds: 600), live: [], now: now
        ).1
        events.append(try floor.sendMessage(user: "alice", team: "floor-a", text: "back soon", now: now))
        try await store!.commit(events.map(EncodedEvent.init))
        try store!.close()
        store = nil

        let reopened = try open()
        let loaded = try reopened.loadFloor().floor
        #expect(loaded.users["alice"]?.status == floor.users["alice"]?.status)
        #expect(loaded.teams["floor-a"]?.seq == 3)
        #expect(loaded.teams["floor-a"]?.announcedConnected == ["alice"])
        let stored = try await reopened.events(team: "floor-a", stream: .team, after: 1)
        #expect(stored.map(\.seq) == [2, 3])
        #expect(stored[0].line + [0x0A] == events[1].encodedLine())
    }

    @Test func aFailedBatchStoresNothing() async throws {
        let store = try open()
        try store.addTeam("floor-a", now: now)
        let good = Event(team: "floor-a", seq: 1, at: now, payload: .message(user: "x", text: "one"))
        let duplicate = Event(team: "floor-a", seq: 1, at: now, payload: .message(user: "x", text: "two"))
        await #expect(throws: (any Error).self) { try await store.commit([EncodedEvent(good), EncodedEvent(duplicate)]) }
        #expect(try await store.events(team: "floor-a", stream: .team, after: 0).isEmpty)
        #expect(try store.loadFloor().floor.teams["floor-a"]?.seq == 0)
    }

    @Test func policyVersionsAreKept() async throws {
        let store = try open()
        try store.addTeam("floor-a", now: now)
        _ = try store.addUser("sam", role: .supervisor, teams: ["floor-a"], now: now)
        var floor = try store.loadFloor().floor
        let event = try floor.setPolicy(by: "sam", team: "floor-a", patch: ["max_on_break": 1], comment: "short staffed", now: now)
        try await store.commit([EncodedEvent(event)])
        let history = try await store.policyHistory(team: "floor-a")
        #expect(history.map(\.version) == [1, 2])
        #expect(history[1].by == "sam" && history[1].comment == "short staffed" && history[1].policy.maxOnBreak == 1)
        #expect(try store.loadFloor().floor.teams["floor-a"]?.policy.version == 2)
    }

    @Test func refusesADatabaseFromANewerHuddle() throws {
        let store = try open()
        try store.pool.write { db in
            try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v999-from-the-future')")
        }
        try store.close()
        #expect(throws: Store.StoreError.newerSchema("\(directory)/huddle.sqlite")) { try open() }
    }

    @Test func usesWriteAheadLogging() throws {
        let store = try open()
        let mode = try store.pool.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
        #expect(mode == "wal")
    }

    @Test func adminChangesBumpTheVersion() async throws {
        let store = try open()
        let before = try await store.adminVersion()
        try store.addTeam("x", now: now)
        #expect(try await store.adminVersion() == before + 1)
    }
}
