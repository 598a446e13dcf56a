import Foundation
import HuddleClient
import HuddleProtocol
import Testing

/// With `sync = checkpoint` (the default) a killed daemon loses nothing, but a machine that goes
/// down under it may take the last commits along: the restart must not tell anyone their replay
/// is complete. A crash of the machine is staged by editing the run's mark in the database (the
/// boot it ran in) while the daemon is down after SIGKILL.
@Suite struct MachineCrashTests {
    /// Kills the daemon, marks its run as one of an earlier boot of the machine, starts it again
    /// and joins with what a client saw before: the join's epoch and `recovered`.
    static func joinAfterCrash(_ arguments: [String], otherBoot: Bool) async throws -> (before: JSONValue, after: JSONValue) {
        let daemon = try TestDaemon(arguments: arguments)
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        try await daemon.start()
        let peer = try await daemon.session(alice)
        let before = try await peer.request("team.join", ["team": "floor-a"])
        try await daemon.kill9()
        if otherBoot {
            _ = try await TestDaemon.run(
                "/usr/bin/sqlite3",
                [
                    "\(daemon.data)/huddle.sqlite",
                    "UPDATE meta SET value = substr(value, 1, instr(value, ' ')) || 'an-earlier-boot' WHERE key = 'running'",
                ])
        }
        try await daemon.start()
        let again = try await daemon.session(alice)
        let epoch = before["epoch"] ?? .null
        let after = try await again.request(
            "team.join", ["team": "floor-a", "since": ["epoch": epoch, "seq": before["seq"] ?? 0]])
        #expect(try await daemon.stop() == 0)
        return (before, after)
    }

    @Test func aKilledDaemonKeepsItsEpochs() async throws {
        let (before, after) = try await Self.joinAfterCrash([], otherBoot: false)
        #expect(after["epoch"] == before["epoch"])
        #expect(after["recovered"] == true)
    }

    @Test func aMachineCrashStartsNewEpochs() async throws {
        let (before, after) = try await Self.joinAfterCrash([], otherBoot: true)
        #expect(after["epoch"] != before["epoch"])
        #expect(after["recovered"] == false)
    }

    @Test func commitsSyncedOneByOneSurviveAMachineCrash() async throws {
        let (before, after) = try await Self.joinAfterCrash(["--sync", "commit"], otherBoot: true)
        #expect(after["epoch"] == before["epoch"])
        #expect(after["recovered"] == true)
    }
}
