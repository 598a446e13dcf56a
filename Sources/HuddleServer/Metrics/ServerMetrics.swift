import Metrics
import Prometheus

/// The metrics counted where things happen: the commit pipeline, the fan-out, the connection
/// rules and the HTTP side. Each hook is one call that touches an atomic or two; nothing here
/// takes the hub's lock or allocates. Team and session figures are not counted here: they are
/// read from the hub when `/metrics` is scraped (`ScrapeGauges`).
///
/// The handles are made on first use and keep the backend they were made with, so
/// `bootstrap()` must run before the hub does (it does, in `huddled serve`); without it (unit
/// tests) they count into swift-metrics' no-op backend.
public enum ServerMetrics {
    public enum Side: String, Sendable {
        case `protocol`
        case http
    }

    struct Handles: Sendable {
        let eventsCommitted = Counter(label: MetricName.eventsCommitted)
        let deliveries = Counter(label: MetricName.deliveries)
        let commitLatency = Metrics.Timer(label: MetricName.commitLatency)
        let commitBatch = Recorder(label: MetricName.commitBatch, aggregate: true)
        let slowReaderDisconnects = Counter(label: MetricName.slowReaderDisconnects)
        let rateLimitedProtocol = Counter(label: MetricName.rateLimited, dimensions: [("side", Side.protocol.rawValue)])
        let rateLimitedHTTP = Counter(label: MetricName.rateLimited, dimensions: [("side", Side.http.rawValue)])
        let commitFailures = Counter(label: MetricName.commitFailures)
        let walSynced = Gauge(label: MetricName.walSynced)
        let walSyncDuration = Metrics.Timer(label: MetricName.walSyncDuration)
        let walSyncFailures = Counter(label: MetricName.walSyncFailures)
        let walCheckpointFailures = Counter(label: MetricName.walCheckpointFailures)
        let refusedTotal = Counter(label: MetricName.connectionsRefused, dimensions: [("limit", ConnectionLimits.Refusal.total.rawValue)])
        let refusedPerAddress = Counter(
            label: MetricName.connectionsRefused, dimensions: [("limit", ConnectionLimits.Refusal.perAddress.rawValue)])
        let evicted = Counter(label: MetricName.unauthenticatedEvicted)
        let hellosRefused = Counter(label: MetricName.hellosRefused)
        let httpAuthRefused = Counter(label: MetricName.httpAuthRefused)
        let httpRequestsTimedOut = Counter(label: MetricName.httpRequestsTimedOut)
        let noticesPending = Gauge(label: MetricName.noticesPending)
    }

    static let handles = Handles()

    /// Installs the Prometheus backend for swift-metrics (once per process) and returns the
    /// registry that `/metrics` renders.
    public static func bootstrap() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(HuddleMetricsFactory(registry: registry))
        // Made now, so that every family is in the first scrape, at zero.
        _ = handles
        return registry
    }

    /// A notice's try ended (`outcome`: delivered, retried or given_up). Labelled by target id:
    /// the URL is a credential and never appears here.
    static func noticeTried(target: Int64, outcome: String) {
        Counter(label: MetricName.notices, dimensions: [("target", String(target)), ("outcome", outcome)]).increment()
    }

    static func noticesPending(_ count: Int) {
        handles.noticesPending.record(count)
    }

    /// A commit transaction of `events` events ended.
    static func commitFinished<Failure>(events: Int, startedAt: ContinuousClock.Instant, _ result: Result<Void, Failure>) {
        let elapsed = (ContinuousClock.now - startedAt).components
        handles.commitLatency.recordNanoseconds(elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000)
        guard case .success = result else { return handles.commitFailures.increment() }
        handles.commitBatch.record(events)
        handles.eventsCommitted.increment(by: Int64(events))
    }

    /// Event lines enqueued to sessions: `recipients` is lines × sessions (one call per event, or
    /// per team and commit batch when the batch goes out as one buffer).
    static func delivered(_ recipients: Int) {
        if recipients > 0 { handles.deliveries.increment(by: Int64(recipients)) }
    }

    /// A WAL sync that began at `unixTime` succeeded after `took`.
    static func walSynced(unixTime: Double, took: Duration) {
        handles.walSynced.record(unixTime)
        let elapsed = took.components
        handles.walSyncDuration.recordNanoseconds(elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000)
    }

    static func walSyncFailed() {
        handles.walSyncFailures.increment()
    }

    static func walCheckpointFailed() {
        handles.walCheckpointFailures.increment()
    }

    static func slowReaderDisconnected() {
        handles.slowReaderDisconnects.increment()
    }

    static func connectionRefused(_ refusal: ConnectionLimits.Refusal) {
        switch refusal {
        case .total: handles.refusedTotal.increment()
        case .perAddress: handles.refusedPerAddress.increment()
        }
    }

    @Sendable static func unauthenticatedEvicted() {
        handles.evicted.increment()
    }

    static func helloRefused() {
        handles.hellosRefused.increment()
    }

    static func httpAuthRefused() {
        handles.httpAuthRefused.increment()
    }

    static func httpRequestTimedOut() {
        handles.httpRequestsTimedOut.increment()
    }

    static func rateLimited(_ side: Side) {
        switch side {
        case .protocol: handles.rateLimitedProtocol.increment()
        case .http: handles.rateLimitedHTTP.increment()
        }
    }
}
