import HuddleCore
import HuddleProtocol
import HuddleStore
import Logging
import NIOCore
import ServiceLifecycle

/// Posts the outbox's notices (SPEC §12), outside the commit path: the commit that stores an
/// alert also queues its notices (`Store.queueNotices`) and rings `bell`; this service does the
/// rest, so that no receiver can slow a commit or the fan-out.
///
/// - One worker per target, each with its own queue order: a slow or dead receiver holds up
///   only its own notices. A target's notices go out in order, each delivered before the next.
/// - Each try has 10 s; any 2xx is delivered; anything else is tried again (`RetrySchedule`)
///   for 24 h; `410 Gone` disables the target. Redirects are not followed; at most 64 KiB of an
///   answer is read.
/// - Targets are read from the database at every ring and every few seconds: `huddled notify
///   add|remove` in another process takes effect without a restart.
/// - What is pending stays in SQLite: after SIGTERM, SIGKILL or a crash the next run goes on.
///   A notice posted just before a kill, whose success was not yet recorded, is posted again
///   with the same `webhook-id`.
public struct NoticeSender: Service {
    let store: Store
    let clock: any WallClock
    let bell: Doorbell
    let allowHTTP: Bool
    /// Told when an alert's own notice (raised or escalated) is delivered, first fails, or is
    /// given up: the hub announces it to supervisors.
    let onStatus: @Sendable (NoticeStatus, _ team: String) -> Void
    let logger: Logger
    var schedule = RetrySchedule()
    /// Slack takes about one message a second per webhook.
    static let slackPace: Duration = .seconds(1)
    static let targetsEvery: Duration = .seconds(2)

    public init(
        store: Store, clock: any WallClock, bell: Doorbell, allowHTTP: Bool, logger: Logger,
        onStatus: @escaping @Sendable (NoticeStatus, _ team: String) -> Void = { _, _ in }
    ) {
        self.store = store
        self.clock = clock
        self.bell = bell
        self.allowHTTP = allowHTTP
        self.onStatus = onStatus
        self.logger = logger
    }

    public func run() async throws {
        let poster = NoticePoster(clock: clock)
        await cancelWhenGracefulShutdown { await superviseWorkers(poster) }
        await poster.shutdown()
    }

    /// Keeps one worker per enabled target, wakes them all at every ring, and publishes how many
    /// notices are pending.
    private func superviseWorkers(_ poster: NoticePoster) async {
        var workers: [Int64: (task: Task<Void, Never>, bell: Doorbell)] = [:]
        while !Task.isCancelled {
            if let targets = try? await store.notifyTargetsAsync() {
                let enabled = Dictionary(uniqueKeysWithValues: targets.filter { $0.disabledAt == nil }.map { ($0.id, $0) })
                for (id, worker) in workers where enabled[id] == nil {
                    worker.task.cancel()
                    workers[id] = nil
                }
                for (id, target) in enabled where workers[id] == nil {
                    let own = Doorbell()
                    workers[id] = (Task { await work(for: target, bell: own, poster: poster) }, own)
                }
            }
            for worker in workers.values { worker.bell.ring() }
            if let pending = try? await store.pendingNoticeCount() { ServerMetrics.noticesPending(pending) }
            await bell.wait(timeout: Self.targetsEvery)
        }
        for worker in workers.values { worker.task.cancel() }
        for worker in workers.values { await worker.task.value }
    }

    private func work(for target: NotifyTarget, bell: Doorbell, poster: NoticePoster) async {
        let metadata: Logger.Metadata = ["target": "\(target.id)", "host": "\(target.host)", "format": "\(target.format)"]
        var lastPost: ContinuousClock.Instant?
        var refusedHTTP = false
        while !Task.isCancelled {
            let notice: Notice
            do {
                guard let next = try await store.nextNotice(target: target.id) else {
                    await bell.wait(timeout: .seconds(60))
                    continue
                }
                notice = next
            } catch {
                logger.error("could not read the notice outbox", metadata: metadata.merging(["error": "\(error)"]) { $1 })
                await bell.wait(timeout: .seconds(5))
                continue
            }
            let now = clock.now()
            if notice.nextAt > now {
                await bell.wait(timeout: .milliseconds(notice.nextAt.milliseconds - now.milliseconds))
                continue
            }
            guard allowHTTP || !target.url.lowercased().hasPrefix("http://") else {
                // Kept, not dropped: a restart with --notify-allow-http, or a corrected target,
                // sends them.
                if !refusedHTTP {
                    refusedHTTP = true
                    logger.error(
                        "not posting to an http:// target without --notify-allow-http; its notices wait", metadata: metadata)
                }
                await bell.wait(timeout: .seconds(3600))
                continue
            }
            if target.format == .slack, let lastPost {
                try? await Task.sleep(until: lastPost + Self.slackPace, clock: .continuous)
            }
            lastPost = .now
            let outcome = await poster.post(notice, to: target)
            let recorded = await record(outcome, of: notice, target: target, metadata: metadata)
            if let recorded, notice.event == .raised || notice.event == .escalated,
                recorded != .retrying || notice.attempts == 0,
                let team = (try? JSONParser.parse(Array(notice.payload.utf8)))?["team"]?.stringValue
            {
                onStatus(NoticeStatus(alert: notice.alertID, target: target.id, format: target.format.rawValue, outcome: recorded), team)
            }
            if let pending = try? await store.pendingNoticeCount() { ServerMetrics.noticesPending(pending) }
        }
    }

    /// Stores the try's outcome; returns what it made of the notice (nil if it could not be stored).
    private func record(_ outcome: NoticePoster.Outcome, of notice: Notice, target: NotifyTarget, metadata: Logger.Metadata)
        async -> NoticeStatus.Outcome?
    {
        let now = clock.now()
        var metadata = metadata
        metadata["notice"] = "\(notice.webhookID)"
        metadata["try"] = "\(notice.attempts + 1)"
        do {
            switch outcome {
            case .delivered(let status):
                try await store.recordNoticeTry(notice.id, state: .delivered, outcome: "\(status)", nextAt: nil, now: now)
                ServerMetrics.noticeTried(target: target.id, outcome: "delivered")
                logger.info("notice delivered", metadata: metadata)
                return .delivered
            case .gone:
                try await store.recordNoticeTry(notice.id, state: .givenUp, outcome: "410 gone", nextAt: nil, now: now)
                try await store.disableNotifyTarget(target.id, reason: "410 gone", now: now)
                ServerMetrics.noticeTried(target: target.id, outcome: "given_up")
                logger.error("the receiver answered 410 Gone: target disabled, its notices given up", metadata: metadata)
                return .givenUp
            case .failed(let reason, let retryAfter):
                metadata["outcome"] = "\(reason)"
                switch schedule.next(
                    attempts: notice.attempts + 1, queuedAt: notice.createdAt, now: now, retryAfterSeconds: retryAfter,
                    jitter: Double.random(in: 0..<1))
                {
                case .retry(let at):
                    try await store.recordNoticeTry(notice.id, state: .pending, outcome: reason, nextAt: at, now: now)
                    ServerMetrics.noticeTried(target: target.id, outcome: "retried")
                    metadata["retry_in_ms"] = "\(at.milliseconds - now.milliseconds)"
                    logger.warning("notice not delivered; trying again", metadata: metadata)
                    return .retrying
                case .giveUp:
                    try await store.recordNoticeTry(notice.id, state: .givenUp, outcome: reason, nextAt: nil, now: now)
                    ServerMetrics.noticeTried(target: target.id, outcome: "given_up")
                    logger.error("notice given up after 24 h of tries", metadata: metadata)
                    return .givenUp
                }
            }
        } catch {
            // The try is posted again (same webhook-id): the receiver can tell.
            logger.error("could not record a notice's try", metadata: metadata.merging(["error": "\(error)"]) { $1 })
            try? await Task.sleep(for: .seconds(1))
            return nil
        }
    }
}
