import HuddleProtocol
import Testing

@testable import HuddleClient

/// Shared fixtures for the board tests: a supervisor's join of `floor-a` as the server sends it.
enum BoardFixture {
    static let t0 = Timestamp(rfc3339: "2026-11-23T09:00:00.000Z")!

    static func time(_ seconds: Int64) -> Timestamp { t0.adding(seconds: seconds) }

    static func stamp(_ seconds: Int64) -> JSONValue { time(seconds).json }

    static let policy: JSONValue = [
        "min_available": 1, "max_on_break": 1,
        "limits": ["admin": 1800, "after_call_work": 120, "break": 900, "lunch": 3600, "meeting": 3600, "training": 7200],
        "version": 2,
    ]

    static func member(_ user: String, _ status: String, since: Int64 = 0, role: String = "agent", connected: Bool = true)
        -> JSONValue
    {
        ["user": .string(user), "role": .string(role), "status": .string(status), "note": "", "since": stamp(since),
            "connected": .bool(connected)]
    }

    static func join(
        team: String = "floor-a", seq: Int64 = 13, supervisorsSeq: Int64? = 0, alerts: [JSONValue]? = [],
        waitlist: [JSONValue] = [], queue: JSONValue = .null, recovered: Bool = false
    ) -> JoinResult {
        var snapshot: [String: JSONValue] = [
            "members": [
                member("alice", "available"), member("bob", "available"), member("carol", "available"),
                member("sam", "offline", role: "supervisor"),
            ],
            "policy": policy,
            "coverage": ["available": 3, "required": 1, "on_break": 0, "max_on_break": 1, "state": "ok"],
            "queue": queue,
            "waitlist": .array(waitlist),
        ]
        if let alerts { snapshot["alerts"] = .array(alerts) }
        var result: [String: JSONValue] = [
            "epoch": "e1", "seq": .int(seq), "recovered": .bool(recovered), "snapshot": .object(snapshot),
        ]
        if let supervisorsSeq { result["supervisors_seq"] = .int(supervisorsSeq) }
        // The fixture is well formed, so this never throws.
        return (try? JoinResult(team: team, json: .object(result)))!
    }

    static func event(
        _ type: String, seq: Int64, stream: String = "team", at: Int64 = 60, team: String = "floor-a",
        _ fields: [String: JSONValue] = [:], readable: Bool = true
    ) -> EventNotification {
        var params: [String: JSONValue] = [
            "team": .string(team), "stream": .string(stream), "seq": .int(seq), "type": .string(type), "at": stamp(at),
        ]
        params.merge(fields) { _, new in new }
        return WireEvents.notification(params, readable: readable)
    }

    static func hello(_ user: String = "sam", role: String = "supervisor") -> HelloResult {
        (try? HelloResult(json: ["user": .string(user), "role": .string(role), "teams": ["floor-a"]]))!
    }

    static func alert(_ id: Int64, kind: String = "wellbeing_break", severity: String = "critical", user: String = "carol")
        -> [String: JSONValue]
    {
        [
            "alert": .int(id), "kind": .string(kind), "severity": .string(severity), "user": .string(user),
            "text": .string("\(user) ended an abusive call and is taking a recovery break"), "created_at": stamp(60),
        ]
    }

    /// Signed in as `user` and joined.
    static func state(_ user: String = "sam", role: String = "supervisor", join: JoinResult? = nil) -> BoardState {
        var state = BoardState()
        state.apply(.signedIn(hello(user, role: role)), now: time(0))
        state.apply(.joined(join ?? self.join(alerts: role == "supervisor" ? [] : nil)), now: time(0))
        return state
    }
}

@Suite struct BoardStateTests {
    typealias F = BoardFixture

    @Test func snapshotFillsTheBoard() throws {
        let state = F.state()
        let team = try #require(state.teams["floor-a"])
        #expect(state.link == .live)
        #expect(state.viewer == "sam" && state.seesAlerts)
        #expect(team.members.map(\.user) == ["alice", "bob", "carol", "sam"])
        #expect(team.coverage?.figures.available == 3 && team.coverage?.state == .ok)
        #expect(team.limits["break"] == 900)
        #expect(team.alerts == [])
        #expect(team.queue == nil)
    }

    @Test func agentsDoNotSeeAlerts() {
        let state = F.state("bob", role: "agent")
        #expect(!state.seesAlerts)
        #expect(state.teams["floor-a"]?.alerts == nil)
    }

    @Test func statusAndCoverageEventsMoveTheBoard() throws {
        var state = F.state()
        state.apply(
            .event(
                F.event(
                    "status", seq: 14,
                    ["user": "alice", "status": "break", "note": "15, be right back", "since": F.stamp(60),
                        "expected_until": F.stamp(960), "by": "alice"])), now: F.time(61))
        state.apply(
            .event(
                F.event(
                    "coverage", seq: 15,
                    ["available": 1, "required": 1, "on_break": 2, "max_on_break": 1, "state": "at_risk"])),
            now: F.time(61))
        let team = try #require(state.teams["floor-a"])
        let alice = try #require(team.members.first { $0.user == "alice" })
        #expect(alice.status == .onBreak && alice.note == "15, be right back")
        #expect(alice.since == F.time(60) && alice.expectedUntil == F.time(960))
        #expect(state.due(alice) == F.time(960))
        #expect(team.coverage?.state == .atRisk && team.coverage?.figures.onBreak == 2)
        #expect(team.seq == 15)
    }

    @Test func dueTimeComesFromThePolicyWithoutAPlannedReturn() throws {
        var state = F.state()
        state.apply(
            .event(F.event("status", seq: 14, ["user": "bob", "status": "lunch", "note": "", "since": F.stamp(100)])),
            now: F.time(100))
        let team = try #require(state.teams["floor-a"])
        let bob = try #require(team.members.first { $0.user == "bob" })
        #expect(state.due(bob) == F.time(3700))
        // A policy change moves the limit.
        var changed = F.policy.objectValue ?? [:]
        changed["limits"] = ["lunch": 1800, "break": 900]
        state.apply(.event(F.event("policy", seq: 15, ["version": 3, "by": "sam", "policy": .object(changed)])), now: F.time(101))
        #expect(state.due(bob) == F.time(1900))
    }

    /// The server's rule: the smallest limit among the person's teams, here the shown ones.
    @Test func dueTimeTakesTheStrictestShownTeam() throws {
        var state = F.state()
        var strict = F.policy.objectValue ?? [:]
        strict["limits"] = ["lunch": 1200]
        state.apply(.joined(F.join(team: "floor-b", seq: 3)), now: F.time(90))
        state.apply(.event(F.event("policy", seq: 4, team: "floor-b", ["version": 2, "by": "sam", "policy": .object(strict)])), now: F.time(95))
        for (team, seq) in [("floor-a", 14), ("floor-b", 5)] {
            state.apply(
                .event(F.event("status", seq: Int64(seq), team: team, ["user": "bob", "status": "lunch", "since": F.stamp(100)])),
                now: F.time(100))
        }
        let bob = try #require(state.teams["floor-a"]?.members.first { $0.user == "bob" })
        #expect(state.due(bob) == F.time(1300))
    }

    @Test func presenceAndMessages() throws {
        var state = F.state()
        state.apply(.event(F.event("presence", seq: 14, ["user": "bob", "connected": false])), now: F.time(61))
        state.apply(.event(F.event("message", seq: 15, ["user": "alice", "text": "queue is long"])), now: F.time(61))
        let team = try #require(state.teams["floor-a"])
        #expect(team.members.first { $0.user == "bob" }?.connected == false)
        #expect(team.lastMessage == BoardMessage(user: "alice", text: "queue is long", at: F.time(60)))
    }

    @Test func queueReportsReplaceEachOther() throws {
        var state = F.state()
        state.apply(
            .event(
                F.event(
                    "queue", seq: 14,
                    ["by": "bot", "calls_waiting": 12, "oldest_wait_s": 310, "calls_per_hour": 60.0, "aht_s": 300.0,
                        "nodes_out": [["node": "n3", "city": "Lyon"]], "note": "storm", "pressure": true,
                        "node_outage": true])), now: F.time(61))
        var queue = try #require(state.teams["floor-a"]?.queue)
        #expect(queue.callsWaiting == 12 && queue.pressure && queue.nodeOutage)
        #expect(queue.nodesOut == [QueueReport.NodeOut(node: "n3", city: "Lyon")])
        #expect(queue.at == F.time(60) && queue.by == "bot" && queue.ahtSeconds == 300)
        state.apply(
            .event(
                F.event(
                    "queue", seq: 15, at: 120,
                    ["by": "bot", "calls_waiting": 2, "oldest_wait_s": 10, "nodes_out": [], "note": "",
                        "pressure": false, "node_outage": false])), now: F.time(121))
        queue = try #require(state.teams["floor-a"]?.queue)
        #expect(queue.callsWaiting == 2 && !queue.pressure && !queue.nodeOutage && queue.nodesOut.isEmpty)
        #expect(queue.callsPerHour == nil)
    }

    @Test func snapshotQueueAndErlangInputs() throws {
        var join = F.join(
            queue: [
                "by": "bot", "at": F.stamp(30), "calls_waiting": 3, "oldest_wait_s": 40, "nodes_out": [], "note": "",
                "pressure": false, "node_outage": false,
            ])
        var snapshot = join.snapshot.objectValue ?? [:]
        snapshot["coverage"] = [
            "available": 7, "required": 8, "on_break": 0, "max_on_break": 2, "state": "breach",
            "required_from": ["calls_per_hour": 60.0, "aht_s": 300.0, "target": 0.8, "within_s": 20],
        ]
        join.snapshot = .object(snapshot)
        let state = F.state(join: join)
        let team = try #require(state.teams["floor-a"])
        #expect(team.queue?.callsWaiting == 3 && team.queue?.at == F.time(30))
        #expect(team.coverage?.state == .breach)
        #expect(
            team.coverage?.figures.requiredFrom
                == CoverageFigures.RequiredFrom(callsPerHour: 60, ahtSeconds: 300, target: 0.8, withinSeconds: 20))
    }

    @Test func waitlistKeepsHeldSlotsAcrossListChanges() throws {
        var state = F.state()
        state.apply(
            .event(F.event("waitlist", seq: 14, ["users": [["user": "bob", "status": "break", "since": F.stamp(50)]]])),
            now: F.time(61))
        state.apply(
            .event(F.event("waitlist_ready", seq: 15, ["user": "bob", "status": "break", "hold_until": F.stamp(180)])),
            now: F.time(61))
        #expect(state.teams["floor-a"]?.waitlist.first?.holdUntil == F.time(180))
        // Dave joins the queue: the event lists {user, status, since} only, Bob's hold stays.
        state.apply(
            .event(
                F.event(
                    "waitlist", seq: 16,
                    ["users": [
                        ["user": "bob", "status": "break", "since": F.stamp(50)],
                        ["user": "dave", "status": "lunch", "since": F.stamp(70)],
                    ]])), now: F.time(71))
        let list = try #require(state.teams["floor-a"]?.waitlist)
        #expect(list.map(\.user) == ["bob", "dave"])
        #expect(list[0].holdUntil == F.time(180) && list[1].holdUntil == nil)
        // Bob takes the slot and leaves the list.
        state.apply(
            .event(F.event("waitlist", seq: 17, ["users": [["user": "dave", "status": "lunch", "since": F.stamp(70)]]])),
            now: F.time(90))
        #expect(state.teams["floor-a"]?.waitlist.map(\.user) == ["dave"])
        #expect(state.teams["floor-a"]?.waitlist.first?.holdUntil == nil)
    }

    @Test func snapshotWaitlistCarriesHolds() {
        let state = F.state(
            join: F.join(waitlist: [["user": "bob", "status": "break", "since": F.stamp(50), "hold_until": F.stamp(170)]]))
        #expect(state.teams["floor-a"]?.waitlist.first?.holdUntil == F.time(170))
    }

    @Test func alertsOpenAndCloseOnTheSupervisorsStream() throws {
        var state = F.state()
        state.apply(.event(F.event("alert", seq: 1, stream: "supervisors", F.alert(1))), now: F.time(61))
        state.apply(
            .event(F.event("alert", seq: 2, stream: "supervisors", F.alert(2, kind: "coverage_breach", severity: "warning"))),
            now: F.time(61))
        #expect(state.openAlerts.map(\.id) == [1, 2])
        #expect(state.openAlerts.first?.team == "floor-a" && state.openAlerts.first?.user == "carol")
        #expect(state.selectedAlertID == 1)
        state.apply(.event(F.event("alert_ack", seq: 3, stream: "supervisors", ["alert": 1, "by": "sam", "note": ""])), now: F.time(62))
        #expect(state.openAlerts.map(\.id) == [2])
        #expect(state.selectedAlertID == 2)
        #expect(state.teams["floor-a"]?.supervisorsSeq == 3)
    }

    /// What became of an alert's chat and webhook notices (SPEC §12), from the snapshot and the
    /// `notice` events, for the board and `huddle alerts`.
    @Test func noticesFollowTheirAlert() throws {
        var open = F.alert(4)
        open["team"] = "floor-a"
        open["notices"] = [["target": 2, "format": "json", "outcome": "retrying"]]
        var state = F.state(join: F.join(supervisorsSeq: 4, alerts: [.object(open)]))
        #expect(state.openAlerts.first?.noticeSummary == "json retrying")
        state.apply(
            .event(F.event("notice", seq: 5, stream: "supervisors", ["alert": 4, "target": 1, "format": "slack", "outcome": "delivered"])),
            now: F.time(61))
        state.apply(
            .event(F.event("notice", seq: 6, stream: "supervisors", ["alert": 4, "target": 2, "format": "json", "outcome": "given_up"])),
            now: F.time(62))
        #expect(state.openAlerts.first?.noticeSummary == "slack delivered, json given up")
        let table = AlertText.table(state.openAlerts, now: F.time(62))
        #expect(table.contains("NOTIFIED") && table.contains("slack delivered, json given up"))
    }

    @Test func snapshotAlertsAreOpenAlerts() {
        var open = F.alert(4)
        open["team"] = "floor-a"
        let state = F.state(join: F.join(supervisorsSeq: 4, alerts: [.object(open)]))
        #expect(state.openAlerts.map(\.id) == [4])
        #expect(state.openAlerts.first?.kind == "wellbeing_break")
    }

    @Test func eventsAlreadyInTheSnapshotAreSkipped() throws {
        var state = F.state()
        state.apply(.disconnected(reason: "shutdown"), now: F.time(100))
        #expect(state.link == .disconnected(reason: "shutdown", since: F.time(100)))
        // A second drop during the same outage keeps the first time.
        state.apply(.disconnected(reason: "connection reset"), now: F.time(105))
        #expect(state.link == .disconnected(reason: "shutdown", since: F.time(100)))
        // The rejoin's snapshot is at seq 20; the replayed events 14...20 precede its answer but
        // come after it from the watcher.
        var rejoin = F.join(seq: 20, supervisorsSeq: 0, recovered: true)
        var snapshot = rejoin.snapshot.objectValue ?? [:]
        snapshot["members"] = [
            F.member("alice", "lunch", since: 90), F.member("bob", "available"), F.member("carol", "available"),
            F.member("sam", "offline", role: "supervisor"),
        ]
        rejoin.snapshot = .object(snapshot)
        rejoin.members = (snapshot["members"]?.arrayValue ?? []).compactMap(Member.init(json:))
        state.apply(.signedIn(F.hello()), now: F.time(110))
        state.apply(.reconnected(rejoin, recovered: true), now: F.time(110))
        #expect(state.link == .reconnected(at: F.time(110), recovered: true))
        state.apply(
            .event(F.event("status", seq: 14, ["user": "alice", "status": "break", "note": "", "since": F.stamp(80)])),
            now: F.time(110))
        state.apply(
            .event(F.event("status", seq: 20, ["user": "alice", "status": "lunch", "note": "", "since": F.stamp(90)])),
            now: F.time(110))
        state.apply(.event(F.event("message", seq: 19, at: 95, ["user": "bob", "text": "back at 10"])), now: F.time(110))
        #expect(state.caughtUp == 3)
        #expect(state.teams["floor-a"]?.lastMessage?.text == "back at 10")
        #expect(state.teams["floor-a"]?.members.first?.status == .lunch)
        #expect(state.teams["floor-a"]?.members.first?.since == F.time(90))
        // A live event after the rejoin applies.
        state.apply(
            .event(F.event("status", seq: 21, ["user": "alice", "status": "available", "note": "", "since": F.stamp(111)])),
            now: F.time(111))
        #expect(state.teams["floor-a"]?.members.first?.status == .available)
        #expect(state.teams["floor-a"]?.seq == 21)
        // Reconnected is news for ten seconds.
        #expect(state.shownLink(at: F.time(115)) == .reconnected(at: F.time(110), recovered: true))
        #expect(state.shownLink(at: F.time(121)) == .live)
    }

    @Test func aLostHistoryIsSaid() {
        var state = F.state()
        state.apply(.disconnected(reason: "x"), now: F.time(100))
        state.apply(.reconnected(F.join(seq: 3, recovered: false), recovered: false), now: F.time(110))
        #expect(state.link == .reconnected(at: F.time(110), recovered: false))
        state.apply(.gap(team: "floor-a", stream: .team, expected: 4, received: 6), now: F.time(111))
        #expect(state.lostEvents)
    }

    @Test func remindersAndAcknowledgmentsFlash() {
        var state = F.state()
        state.apply(.reminder(["status": "break", "since": F.stamp(0), "due": F.stamp(900), "text": "x"]), now: F.time(901))
        #expect(state.shownFlash(at: F.time(902))?.text == "Reminder: your Break is past its time")
        #expect(state.shownFlash(at: F.time(902))?.tone == .warning)
        state.acknowledged(3, failure: "no open alert 3\u{1B}[2J", now: F.time(910))
        #expect(state.shownFlash(at: F.time(911))?.text == "could not acknowledge #3: no open alert 3\u{FFFD}[2J")
        #expect(state.shownFlash(at: F.time(921)) == nil)
        state.acknowledged(4, failure: nil, now: F.time(930))
        #expect(state.shownFlash(at: F.time(931)) == BoardState.Flash(text: "acknowledged #4", tone: .good, until: F.time(940)))
    }

    @Test func eventsForUnknownTeamsAreIgnored() {
        var state = F.state()
        let before = state
        state.apply(.event(F.event("status", seq: 99, team: "floor-z", ["user": "x", "status": "break"])), now: F.time(1))
        #expect(state == before)
    }

    /// A newer server's status, alert kind or event type: shown as sent where the board knows
    /// the shape, otherwise only the seq moves.
    @Test func aNewerServersEventsShowAsSent() throws {
        var state = F.state()
        state.apply(
            .event(F.event("status", seq: 14, ["user": "bob", "status": "on_call", "since": F.stamp(70)], readable: false)),
            now: F.time(70))
        let bob = try #require(state.teams["floor-a"]?.members.first { $0.user == "bob" })
        #expect(bob.status == nil && bob.statusName == "on_call" && bob.since == F.time(70))
        state.apply(
            .event(F.event("alert", seq: 1, stream: "supervisors", F.alert(4, kind: "long_hold"), readable: false)),
            now: F.time(71))
        #expect(state.openAlerts.map(\.kind) == ["long_hold"])
        state.apply(.event(F.event("call", seq: 15, ["user": "bob", "state": "hold"], readable: false)), now: F.time(72))
        #expect(state.teams["floor-a"]?.seq == 15)
        #expect(state.teams["floor-a"]?.members.first { $0.user == "bob" } == bob)
    }
}
