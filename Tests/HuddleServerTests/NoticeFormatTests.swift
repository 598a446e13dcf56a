import HuddleCore
import HuddleProtocol
import HuddleStore
import Testing

@testable import HuddleServer

/// The notices' formats, signature, retry schedule and reading of answers, without a network
/// (the end-to-end suite posts them to a real receiver).
@Suite struct NoticeFormatTests {
    static let t0 = Timestamp(milliseconds: 1_796_000_000_000)

    /// The example of the Standard Webhooks libraries (also what `pip install standardwebhooks`
    /// signs for these inputs, checked when this was written).
    @Test func signaturesMatchTheStandardWebhooksLibraries() {
        let signature = StandardWebhooks.signature(
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: "1614265330",
            body: Array(#"{"test": 2432232314}"#.utf8))
        #expect(signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        #expect(StandardWebhooks.key("whsec_!!") == nil)
        let fresh = StandardWebhooks.newSecret()
        #expect(fresh.hasPrefix("whsec_") && StandardWebhooks.key(fresh)?.count == 24)
    }

    func notice(_ alert: Alert, _ event: Notice.Event, ack: Alert.Acknowledgment? = nil) -> Notice {
        Notice(
            id: 1, targetID: 7, alertID: alert.id, event: event, webhookID: "huddle-e-\(alert.id)-\(event.rawValue)-7",
            payload: String(decoding: JSONWriter.encode(NoticePayload.json(alert, event: event, ack: ack)), as: UTF8.self),
            createdAt: Self.t0, attempts: 0, nextAt: Self.t0, state: .pending)
    }

    func target(_ format: NotifyTarget.Format) -> NotifyTarget {
        NotifyTarget(
            id: 7, team: "floor-a", url: "https://hooks.example/x", format: format, kinds: nil, minSeverity: .info,
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", createdAt: Self.t0)
    }

    let breach = Alert(
        id: 5, kind: .coverageBreach, severity: .warning, team: "floor-a",
        text: "coverage breached for 60 s: 1 available, 2 required <now> & then", createdAt: t0)

    @Test func eachFormatCarriesTheWebhookIDAndItsOwnBody() throws {
        let slack = NoticeRequest.make(notice(breach, .raised), for: target(.slack), sentAt: Self.t0)
        #expect(slack.headers.contains { $0 == ("webhook-id", "huddle-e-5-raised-7") })
        #expect(!slack.headers.contains { $0.0 == "webhook-signature" })
        #expect(try JSONParser.parse(slack.body)["text"] == .string(
            "Warning: Coverage breach in floor-a: coverage breached for 60 s: 1 available, 2 required &lt;now&gt; &amp; then (alert 5)"))

        let closed = NoticeRequest.make(
            notice(breach, .closed, ack: .init(by: "system", at: Self.t0, note: "coverage is back")), for: target(.teams),
            sentAt: Self.t0)
        let card = try JSONParser.parse(closed.body)["attachments"]?.arrayValue?.first?["content"]
        #expect(card?["type"] == "AdaptiveCard")
        #expect(card?["body"]?.arrayValue?.first?["text"] == "Closed: Coverage breach in floor-a (alert 5): coverage is back")
        #expect(card?["body"]?.arrayValue?.first?["color"] == "good")

        let json = NoticeRequest.make(notice(breach, .raised), for: target(.json), sentAt: Self.t0.adding(seconds: 30))
        let body = try JSONParser.parse(json.body)
        #expect(body["type"] == "alert.raised" && body["timestamp"] == Self.t0.json)
        #expect(body["data"]?["kind"] == "coverage_breach" && body["data"]?["notice"] == "raised")
        let timestamp = String(Self.t0.adding(seconds: 30).milliseconds / 1000)
        #expect(json.headers.contains { $0 == ("webhook-timestamp", timestamp) })
        let expected = StandardWebhooks.signature(
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", id: "huddle-e-5-raised-7", timestamp: timestamp, body: json.body)
        #expect(json.headers.contains { $0.0 == "webhook-signature" && $0.1 == expected })
    }

    @Test func answersAreReadAsTheSpecSays() {
        #expect(NoticePoster.judge(status: 200, body: Array("ok".utf8), format: .slack, retryAfter: nil) == .delivered(status: 200))
        #expect(NoticePoster.judge(status: 204, body: [], format: .json, retryAfter: nil) == .delivered(status: 204))
        #expect(NoticePoster.judge(status: 410, body: [], format: .json, retryAfter: nil) == .gone)
        #expect(NoticePoster.judge(status: 429, body: [], format: .slack, retryAfter: 7) == .failed(reason: "429", retryAfterSeconds: 7))
        #expect(NoticePoster.judge(status: 301, body: [], format: .json, retryAfter: nil)
            == .failed(reason: "301 redirect (not followed)", retryAfterSeconds: nil))
        // A throttle inside a 200, as Office 365 connectors answered.
        let hidden = Array("Microsoft Teams endpoint returned HTTP error 429 with ContextId ...".utf8)
        #expect(NoticePoster.judge(status: 200, body: hidden, format: .teams, retryAfter: nil)
            == .failed(reason: "throttled (200 with an error in the body)", retryAfterSeconds: nil))
        #expect(NoticePoster.judge(status: 200, body: hidden, format: .json, retryAfter: nil) == .delivered(status: 200))
    }

    @Test func retriesBackOffFromOneSecondToFifteenMinutesForADay() {
        let schedule = RetrySchedule()
        func delay(_ attempts: Int, jitter: Double, retryAfter: Int64? = nil) -> Int64 {
            guard case .retry(let at) = schedule.next(
                attempts: attempts, queuedAt: Self.t0, now: Self.t0, retryAfterSeconds: retryAfter, jitter: jitter)
            else { return -1 }
            return at.milliseconds - Self.t0.milliseconds
        }
        #expect(delay(1, jitter: 0) == 500 && delay(1, jitter: 0.999) == 999)
        #expect(delay(2, jitter: 0) == 1_000 && delay(5, jitter: 0) == 8_000)
        #expect(delay(11, jitter: 0.999) == 899_550)  // 15 min, the ceiling
        #expect(delay(40, jitter: 0) == 450_000)
        #expect(delay(1, jitter: 0, retryAfter: 30) == 30_000)  // Retry-After honoured
        #expect(delay(1, jitter: 0, retryAfter: 86_400) == 900_000)  // within the ceiling
        // A day after it was queued, the notice is given up.
        let late = schedule.next(
            attempts: 100, queuedAt: Self.t0, now: Self.t0.adding(seconds: 86_000), retryAfterSeconds: nil, jitter: 0.5)
        #expect(late == .giveUp)
        #expect(RetrySchedule.retryAfter("120", now: Self.t0) == 120)
        #expect(RetrySchedule.retryAfter("Wed, 21 Oct 2015 07:28:00 GMT", now: Timestamp(rfc3339: "2015-10-21T07:27:00Z")!) == 60)
        #expect(RetrySchedule.retryAfter("soon", now: Self.t0) == nil)
    }
}
