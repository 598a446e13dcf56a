import Foundation
import GRDB
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

    /// A row changed by hand (or damaged) is refused with what is wrong, not read as a default:
    /// a supervisor must not come back as an agent, nor a team's rules as the built-in ones.
    @Test(arguments: [
        ("UPDATE users SET role = 'wizard' WHERE name = 'sam'", "user 'sam' has role 'wizard'"),
        ("UPDATE users SET status = 'nap' WHERE name = 'sam'", "user 'sam' has status 'nap'"),
        ("UPDATE policy_versions SET policy = '{\"min_available\": \"lots\"}'", "policy version 1 of team 'floor-a' cannot be read"),
        ("UPDATE teams SET waitlist = '[{\"user\": 7}]'", "the waitlist of team 'floor-a' cannot be read"),
        ("UPDATE teams SET coverage = '{\"available\"'", "the coverage of team 'floor-a' cannot be read"),
        ("UPDATE teams SET queue = '[]'", "the queue of team 'floor-a' cannot be read"),
    ])
    func aCorruptRowStopsTheLoadWithWhatIsWrong(_ corruption: (String, String)) async throws {
        let store = try open()
        _ = try store.addTeam("floor-a", now: now)
        _ = try store.addUser("sam", role: .supervisor, teams: ["floor-a"], now: now)
        try store.close()
        try await DatabaseQueue(path: "\(directory)/huddle.sqlite").write { db in try db.execute(sql: corruption.0) }
        let reopened = try open()
        do {
            _ = try reopened.loadFloor()
            Issue.record("loaded a floor from a corrupt row")
        } catch let error as CorruptRow {
            #expect(error.description.contains(corruption.1), "\(error)")
        }
        try reopened.close()
    }

    /// GRDB's WAL set-up turns `synchronous` down to NORMAL after the connection is configured;
    /// the store must win when every commit is to be synced, or a power cut could take
    /// acknowledged changes with it.
    @Test func commitsAreSyncedAsAskedAndCheckpointsCanLeaveTheCommitPath() async throws {
        let plain = try open()
        #expect(try plain.writerSynchronous() == 2)
        #expect(try plain.writerAutoCheckpoint() > 0)
        try plain.close()

        let lazy = try Store(path: "\(directory)/huddle.sqlite", sync: .checkpoint, backgroundCheckpoints: true)
        #expect(try lazy.writerSynchronous() == 1)
        try lazy.close()

        let store = try Store(path: "\(directory)/huddle.sqlite", sync: .commit, backgroundCheckpoints: true)
        #expect(try store.writerSynchronous() == 2)
        #expect(try store.writerAutoCheckpoint() == 0)
        try store.addTeam("floor-a", now: now)
        for index in 0..<50 { _ = try store.addUser("agent\(index)", role: .agent, teams: ["floor-a"], now: now) }
        let (walPages, checkpointed) = try await store.checkpoint()
        #expect(walPages > 0)
        #expect(checkpointed == walPages)
        try store.close()
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
            user: "alice", StatusRequest(status: .onBreak, note: "brb", expectedSeconds: 600), now: now
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

    /// The commit binds status events and user rows through SQLite's C API: empty and non-ASCII
    /// text, absent values (stored as NULL) and every column come back as they were committed.
    @Test func statusChangesAreStoredColumnByColumn() async throws {
        var store: Store? = try open()
        try store!.addTeam("floor-a", now: now)
        _ = try store!.addUser("zoe", role: .agent, teams: ["floor-a"], now: now)
        var floor = try store!.loadFloor().floor
        floor.teams["floor-a"]?.policy.minAvailable = .fixed(0)
        var events = try floor.setOwnStatus(
            user: "zoe", StatusRequest(status: .meeting, note: "Café — 1:1 ☕", expectedSeconds: 900), now: now
        ).1
        let later = now.adding(milliseconds: 60_000)
        events += try floor.setOwnStatus(user: "zoe", StatusRequest(status: .available, note: ""), now: later).1
        try await store!.commit(events.map(EncodedEvent.init))
        try store!.close()
        store = nil

        let reopened = try open()
        let loaded = try reopened.loadFloor().floor
        #expect(loaded.users["zoe"]?.status == floor.users["zoe"]?.status)
        #expect(loaded.users["zoe"]?.status.expectedUntil == nil)
        #expect(loaded.users["zoe"]?.status.note == "")
        let rows = try reopened.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT seq, at, type, user, line FROM events WHERE stream = 0 ORDER BY seq")
        }
        let statusEvents = events.filter { $0.stream == .team }
        #expect(rows.count == statusEvents.count)
        for (row, event) in zip(rows, statusEvents) {
            #expect(row["seq"] as Int64 == event.seq)
            #expect(row["at"] as Int64 == event.at.milliseconds)
            #expect(row["type"] as String == event.payload.type)
            #expect(row["user"] as String? == event.payload.user)
            #expect([UInt8](row["line"] as Data) + [0x0A] == event.encodedLine())
        }
    }

    /// A restart rebuilds the floor from the database alone: whatever the timers and rules read
    /// must come back as it was (SPEC §6), not only statuses and seqs.
    @Test func aRestartRestoresEverythingTheRulesAndTimersRead() async throws {
        var store: Store? = try open()
        try store!.addTeam("floor-a", now: now)
        for (name, role) in [("alice", Role.agent), ("bob", .agent), ("carol", .agent), ("sam", .supervisor), ("q", .bot)] {
            _ = try store!.addUser(name, role: role, teams: ["floor-a"], now: now)
        }
        var floor = try store!.loadFloor().floor
        var events: [Event] = []
        var clock = now
        func later(_ seconds: Int64) { clock = clock.adding(seconds: seconds) }
        for name in ["alice", "bob", "carol"] { events += floor.setPresence(user: name, connected: true, now: clock) }
        events.append(
            try floor.setPolicy(
                by: "sam", team: "floor-a",
                patch: ["min_available": "auto", "shrinkage_floor": 1, "max_on_break": 1, "queue_report_every_s": 60],
                comment: "staff from the queue", now: clock))
        // 60 calls an hour at 300 s: Erlang C asks for 8 agents (SPEC §3's check figure).
        events += try floor.reportQueue(
            QueueReport(by: "q", at: clock, callsWaiting: 1, oldestWaitSeconds: 5, callsPerHour: 60, ahtSeconds: 300),
            team: "floor-a", now: clock)
        later(1)
        floor.live = ["alice", "bob", "carol"]
        events += try floor.setOwnStatus(
            user: "alice", StatusRequest(status: .onBreak, note: "", reason: .abusiveCall),
            now: clock
        ).1
        // Bob asks for lunch, which the rules refuse (8 required), so he waits in line.
        events += try floor.setOwnStatus(
            user: "bob", StatusRequest(status: .lunch, queue: true), now: clock
        ).1
        events += floor.setPresence(user: "carol", connected: false, now: clock)
        // Past the escalation (300 s) and the missing report (90 s): both alerts are raised.
        later(400)
        var reminded: [String: Timestamp] = [:]
        floor.live = ["alice", "bob"]
        events += floor.runTimers(absentSince: ["carol": clock], reminded: &reminded, now: clock).events
        #expect(events.contains { if case .alert(let a) = $0.payload { a.kind == .escalation } else { false } })
        #expect(events.contains { if case .alert(let a) = $0.payload { a.kind == .queueReportMissing } else { false } })
        try await store!.commit(events.map(EncodedEvent.init))
        try store!.close()
        store = nil

        let reopened = try open()
        let loaded = try reopened.loadFloor().floor
        // Live sessions are the server's, not the database's: a restart starts with none.
        var stored = floor
        stored.live = []
        #expect(loaded == stored)
        let team = try #require(loaded.teams["floor-a"])
        #expect(team.erlang?.0 == 8)
        #expect(loaded.required(for: team).0 == 8)
        #expect(team.missingReportRaisedAt != nil)
        #expect(team.escalatedAlerts.count == 1)
        #expect(team.waitlist.map(\.user) == ["bob"])
        #expect(loaded.users["alice"]?.status.reason == .abusiveCall)
        #expect(try await reopened.loadAbsences() == ["carol": now.adding(seconds: 1)])
        // The timers see what they saw before: nothing is raised a second time.
        var again = loaded
        var none: [String: Timestamp] = [:]
        again.live = ["alice", "bob"]
        let rerun = again.runTimers(absentSince: [:], reminded: &none, now: clock.adding(seconds: 1))
        #expect(!rerun.events.contains { if case .alert = $0.payload { true } else { false } })
    }

    /// A run that ends with `endRun` leaves nothing behind; one that does not is reported to the
    /// next, which renews the epochs when the machine went down under it.
    @Test func anUnfinishedRunIsReportedAndEpochsCanBeRenewed() throws {
        let store = try open()
        try store.addTeam("floor-a", now: now)
        #expect(try store.beginRun(bootID: "boot-1", sync: .checkpoint) == nil)
        try store.endRun()
        #expect(try store.beginRun(bootID: "boot-1", sync: .checkpoint) == nil)
        let unfinished = try #require(try store.beginRun(bootID: "boot-1", sync: .commit))
        #expect(unfinished == UnfinishedRun(bootID: "boot-1", sync: .checkpoint))
        #expect(!Store.mayHaveLostCommits(unfinished, currentBootID: "boot-1"))
        #expect(Store.mayHaveLostCommits(unfinished, currentBootID: "boot-2"))
        #expect(!Store.mayHaveLostCommits(UnfinishedRun(bootID: "boot-1", sync: .commit), currentBootID: "boot-2"))
        #expect(Store.mayHaveLostCommits(UnfinishedRun(bootID: "", sync: .checkpoint), currentBootID: ""))
        let before = try store.listTeams().map(\.epoch)
        try store.renewEpochs()
        let after = try store.listTeams().map(\.epoch)
        #expect(after.count == 1 && after != before)
        try store.close()
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

    /// A replay is read as one buffer of the lines exactly as they were sent, with where each
    /// ends and when it happened.
    @Test func replayLinesAreTheStoredLinesInOneBuffer() async throws {
        let store = try open()
        try store.addTeam("floor-a", now: now)
        let events = (1...5).map { seq in
            Event(team: "floor-a", seq: Int64(seq), at: now.adding(milliseconds: Int64(seq) * 7), payload: .message(user: "x", text: "m\(seq) ✓"))
        }
        try await store.commit(events.map(EncodedEvent.init))
        let read = try await withCheckedThrowingContinuation { continuation in
            store.replayLines(team: "floor-a", ranges: [(.team, 1, 4), (.supervisors, 0, 0)]) { continuation.resume(with: $0) }
        }
        #expect(read.count == 2)
        #expect(read[0].bytes == events[1...3].flatMap { $0.encodedLine() })
        #expect(read[0].count == 3)
        #expect(read[0].ats == events[1...3].map(\.at.milliseconds))
        #expect(Array(read[0].line(1)) == events[2].encodedLine())
        #expect(read[1] == StoredLines())
    }

    /// Retention drops each stream's oldest run of events and keeps the rest unbroken, also when
    /// the clock once stepped back; other teams and streams are left alone, and the query walks
    /// the primary key instead of scanning the table.
    @Test func pruningDropsTheOldestRunOfEachStream() async throws {
        let store = try open()
        try store.addTeam("floor-a", now: now)
        try store.addTeam("floor-b", now: now)
        func daysAgo(_ days: Int64) -> Timestamp { now.adding(seconds: -days * 86_400) }
        func message(_ team: String, _ seq: Int64, _ days: Int64) -> EncodedEvent {
            EncodedEvent(Event(team: team, seq: seq, at: daysAgo(days), payload: .message(user: "x", text: "m\(seq)")))
        }
        func ack(_ seq: Int64, _ days: Int64) -> EncodedEvent {
            let payload = EventPayload.alertAck(alert: seq, by: "sam", note: "", at: daysAgo(days))
            return EncodedEvent(Event(team: "floor-a", seq: seq, at: daysAgo(days), payload: payload))
        }
        // floor-a: 40 and 35 days old, then 2 days, then a stamp from a clock that stepped back.
        try await store.commit([
            message("floor-a", 1, 40), message("floor-a", 2, 35), message("floor-a", 3, 2), message("floor-a", 4, 50),
            message("floor-a", 5, 0),
        ])
        try await store.commit([ack(1, 45), ack(2, 31), ack(3, 1)])
        try await store.commit([message("floor-b", 1, 40), message("floor-b", 2, 39)])

        #expect(try await store.prune(before: daysAgo(30)) == 6)
        #expect(try await store.events(team: "floor-a", stream: .team, after: 0).map(\.seq) == [3, 4, 5])
        #expect(try await store.events(team: "floor-a", stream: .supervisors, after: 0).map(\.seq) == [3])
        #expect(try await store.events(team: "floor-b", stream: .team, after: 0).isEmpty)
        #expect(try store.loadFloor().floor.teams["floor-b"]?.seq == 2)
        #expect(try await store.prune(before: daysAgo(30)) == 0)

        let plan = try await store.pool.read { db in
            try Row.fetchAll(
                db, sql: "EXPLAIN QUERY PLAN SELECT seq FROM events WHERE team_id = 1 AND stream = 0 AND at >= 0 ORDER BY seq LIMIT 1"
            ).map { $0["detail"] as String }
        }
        #expect(plan == ["SEARCH events USING PRIMARY KEY (team_id=? AND stream=?)"])
        let indexes = try await store.pool.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL")
        }
        #expect(indexes.isEmpty)
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
