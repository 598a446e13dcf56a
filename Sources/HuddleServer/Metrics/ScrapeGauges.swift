import HuddleProtocol
import NIOConcurrencyHelpers
import Prometheus

/// Renders `/metrics`: sets the gauges that are read at scrape time (connections, sessions by
/// role, coverage and open alerts per team) on the registry, then writes every family in the
/// Prometheus text format. A team that no longer exists loses its series.
final class ScrapeGauges: Sendable {
    let registry: PrometheusCollectorRegistry
    /// The teams the last scrape showed; also serialises scrapes.
    private let shownTeams = NIOLockedValueBox<Set<String>>([])

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    func render(hub: Hub, connections: Int) -> [UInt8] {
        shownTeams.withLockedValue { shown in
            let reading = hub.metricsReading()
            gauge(MetricName.connections).set(Int64(connections))
            for role in Role.allCases {
                gauge(MetricName.sessions, [("role", role.rawValue)]).set(Int64(reading.sessions[role] ?? 0))
            }
            for (name, team) in reading.teams {
                let labels = [("team", name)]
                gauge(MetricName.teamAvailable, labels).set(Int64(team.available))
                gauge(MetricName.teamRequired, labels).set(Int64(team.required))
                gauge(MetricName.teamOnBreak, labels).set(Int64(team.onBreak))
                for kind in Alert.Kind.teamWide {
                    gauge(MetricName.alertsOpen, [("team", name), ("kind", kind.rawValue)]).set(Int64(team.alerts[kind] ?? 0))
                }
            }
            let current = Set(reading.teams.keys)
            for name in shown.subtracting(current) {
                forget(team: name)
            }
            shown = current
            return registry.emitToBuffer()
        }
    }

    private func gauge(_ name: String, _ labels: [(String, String)] = []) -> Gauge {
        registry.makeGauge(descriptor: MetricName.descriptor(name), labels: labels)
    }

    private func forget(team name: String) {
        let labels = [("team", name)]
        for metric in [MetricName.teamAvailable, MetricName.teamRequired, MetricName.teamOnBreak] {
            registry.unregisterGauge(gauge(metric, labels))
        }
        for kind in Alert.Kind.teamWide {
            registry.unregisterGauge(gauge(MetricName.alertsOpen, [("team", name), ("kind", kind.rawValue)]))
        }
    }
}
