import HuddleCore
import HuddleProtocol

extension Hub {
    /// What `/metrics` shows of the floor, read when it is scraped rather than counted as things
    /// happen, so that no hot path pays for it: sessions by role, and per team the coverage
    /// figures last announced (a `coverage` event) and the open alerts, from the committed floor
    /// (what SQLite holds).
    struct MetricsReading {
        struct Team {
            var available = 0
            var required = 0
            var onBreak = 0
            var alerts: [Alert.Kind: Int] = [:]
        }

        var sessions: [Role: Int] = [:]
        var teams: [String: Team] = [:]
    }

    /// One pass under the lock: O(sessions + teams + open alerts).
    func metricsReading() -> MetricsReading {
        state.withLockedValue { state in
            var reading = MetricsReading()
            for session in state.sessions.values {
                reading.sessions[session.role, default: 0] += 1
            }
            for (name, team) in state.pipeline.committed.teams {
                var figures = MetricsReading.Team()
                // A team that has never announced its coverage (no agent yet) gets it computed.
                if let coverage = team.coverage ?? state.pipeline.committed.coverage(of: name) {
                    figures.available = coverage.available
                    figures.required = coverage.required
                    figures.onBreak = coverage.onBreak
                }
                for alert in team.openAlerts.values {
                    figures.alerts[alert.kind, default: 0] += 1
                }
                reading.teams[name] = figures
            }
            return reading
        }
    }
}
