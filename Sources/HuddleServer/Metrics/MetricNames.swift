import Prometheus

/// Every metric the daemon exports, with its `# HELP` text (Prometheus text format).
/// `promtool check metrics` refuses a family without help, so the factory looks it up here.
enum MetricName {
    // Counted on the hot paths through swift-metrics.
    static let eventsCommitted = "huddle_events_committed_total"
    static let deliveries = "huddle_deliveries_total"
    static let commitLatency = "huddle_commit_latency_seconds"
    static let commitBatch = "huddle_commit_batch_events"
    static let slowReaderDisconnects = "huddle_slow_reader_disconnects_total"
    static let rateLimited = "huddle_rate_limited_total"
    static let commitFailures = "huddle_commit_failures_total"
    static let walSynced = "huddle_wal_synced_timestamp_seconds"
    static let walSyncDuration = "huddle_wal_sync_seconds"
    static let walSyncFailures = "huddle_wal_sync_failures_total"
    static let walCheckpointFailures = "huddle_wal_checkpoint_failures_total"
    static let connectionsRefused = "huddle_connections_refused_total"
    static let unauthenticatedEvicted = "huddle_connections_evicted_total"
    static let hellosRefused = "huddle_hellos_refused_total"
    static let httpAuthRefused = "huddle_http_auth_refused_total"
    static let httpRequestsTimedOut = "huddle_http_requests_timed_out_total"
    static let notices = "huddle_notices_total"
    static let noticesPending = "huddle_notices_pending"

    // Read from the hub at scrape time.
    static let connections = "huddle_connections"
    static let sessions = "huddle_sessions"
    static let teamAvailable = "huddle_team_available"
    static let teamRequired = "huddle_team_required"
    static let teamOnBreak = "huddle_team_on_break"
    static let alertsOpen = "huddle_alerts_open"

    static let help: [String: String] = [
        eventsCommitted: "Events committed to the event log.",
        deliveries: "Event lines enqueued to sessions by the fan-out (one per recipient).",
        commitLatency: "Time one commit transaction took, from its start to its completion.",
        commitBatch: "Events written by one commit transaction (group commit).",
        slowReaderDisconnects: "Connections closed because the client did not read fast enough.",
        rateLimited: "Requests refused by a rate limit, by side (protocol or http).",
        commitFailures: "Commit transactions that failed (their changes were refused with -32603).",
        walSynced: "Unix time at which the last successful WAL sync began: every commit before it is on disk.",
        walSyncDuration: "Time one WAL sync took.",
        walSyncFailures: "WAL syncs that failed.",
        walCheckpointFailures: "WAL checkpoints that failed.",
        connectionsRefused: "Protocol connections reset at once because a limit was reached, by limit (total or per_address).",
        unauthenticatedEvicted: "Protocol connections that had not said hello, closed to make room for a new one (max-unauthenticated).",
        hellosRefused: "session.hello requests refused (unknown or revoked token, too many sessions).",
        httpAuthRefused: "HTTP requests refused with 401, or with 429 because their address failed too often.",
        httpRequestsTimedOut: "HTTP connections closed because a request did not arrive in full within http-request-timeout-s.",
        notices: "Tries to post an alert's notice, by target id and outcome (delivered, retried, given_up).",
        noticesPending: "Notices in the outbox still waiting to be delivered.",
        connections: "Open protocol connections, authenticated or not.",
        sessions: "Authenticated protocol sessions by role.",
        teamAvailable: "Agents available on the phones, as last announced to the team.",
        teamRequired: "Agents the coverage policy requires available, as last announced to the team.",
        teamOnBreak: "Agents on break or at lunch, as last announced to the team.",
        alertsOpen: "Open (unacknowledged) team-wide alerts by team and kind; alerts about one person are not published here.",
    ]

    /// The help text for `name`; metrics made by libraries through swift-metrics get a generic one.
    static func help(for name: String) -> String {
        help[name] ?? "\(name) (reported through swift-metrics)."
    }

    /// The registry's description of `name`: the whole name as given, and its help.
    static func descriptor(_ name: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help(for: name))
    }
}
