import HuddleProtocol
import Testing

@testable import HuddleCore

/// `Floor.changes(applying:)` lists exactly what differs once the events are applied, as it then
/// stands: what the store writes as current state beside the events.
@Suite struct FloorChangesTests {
    let clock = ManualWallClock()

    /// Every user, team field and presence that differs between `before` and `after`, read off
    /// the two floors directly.
    static func expectChanges(_ changes: FloorChanges, from before: Floor, to after: Floor, _ events: [Event]) {
        let changedUsers = after.users.values.filter { user in
            before.users[user.name].map { $0.status != user.status || $0.overdueAlertedSince != user.overdueAlertedSince }
                ?? false
        }
        #expect(changes.users == changedUsers.sorted { $0.name < $1.name })
        for (name, team) in after.teams.sorted(by: { $0.key < $1.key }) {
            let old = before.teams[name]
            let listed = changes.teams.first { $0.team == name }
            #expect(listed?.coverage == (old?.coverage == team.coverage ? nil : team.coverage))
            #expect(listed?.queue == (old?.queue == team.queue ? nil : team.queue))
            #expect(listed?.waitlist == (old?.waitlist == team.waitlist ? nil : team.waitlist))
        }
        let presence = events.compactMap { event -> FloorChanges.Presence? in
            guard case let .presence(user, connected) = event.payload else { return nil }
            return .init(team: event.team, user: user, connected: connected, at: event.at)
        }
        #expect(changes.presence == presence)
    }

    @Test func aDayOfDecisionsInBatches() throws {
        var working = CoverageRulesTests.floor(agents: 6, minAvailable: 2, maxOnBreak: 1)
        working.live = CoverageRulesTests.live(6)
        var committed = working
        var batch: [Event] = []
        func commit() {
            let changes = committed.changes(applying: batch)
            let before = committed
            for event in batch { committed.apply(event) }
            Self.expectChanges(changes, from: before, to: committed, batch)
            #expect(committed == working)
            batch = []
        }
        for round in 0..<30 {
            clock.advance(seconds: 37)
            let name = "a\(round % 6 + 1)"
            let wanted: Status = [.onBreak, .available, .lunch, .available, .meeting][round % 5]
            batch += (try? working.setOwnStatus(user: name, StatusRequest(status: wanted, queue: true), now: clock.now()).1) ?? []
            batch += working.settle(["t"], now: clock.now())
            if round % 7 == 3 {
                batch += working.setPresence(user: name, connected: false, now: clock.now())
                batch += working.setPresence(user: name, connected: true, now: clock.now())
            }
            if round % 3 == 2 { commit() }
        }
        commit()
    }

    @Test func eventsThatChangeNoStateChangeNothing() {
        let floor = CoverageRulesTests.floor(agents: 2)
        let message = Event(team: "t", seq: 1, at: clock.now(), payload: .message(user: "a1", text: "hi"))
        let elsewhere = Event(
            team: "gone", seq: 1, at: clock.now(),
            payload: .status(.init(user: "nobody", status: .onBreak, note: "", since: clock.now(), expectedUntil: nil, by: "x")))
        #expect(floor.changes(applying: [message, elsewhere]).isEmpty)
    }

    @Test func anOverdueAlertMarksItsUser() {
        var floor = CoverageRulesTests.floor(agents: 2)
        floor.users["a1"]?.status = StatusRecord(status: .onBreak, note: "", since: clock.now(), expectedUntil: nil, by: "a1")
        let alert = Alert(
            id: 1, kind: .overdueStatus, severity: .warning, team: "t", user: "a1", text: "Break is 1m over",
            createdAt: clock.now(), statusSince: clock.now())
        let changes = floor.changes(applying: [Event(team: "t", seq: 1, at: clock.now(), payload: .alert(alert))])
        #expect(changes.users.map(\.name) == ["a1"])
        #expect(changes.users.first?.overdueAlertedSince == clock.now())
    }
}
