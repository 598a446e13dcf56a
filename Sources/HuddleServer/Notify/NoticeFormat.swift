import Crypto
import Foundation
import HuddleProtocol
import HuddleStore

/// A notice as the request its target's format asks for (SPEC §12): headers and body. Every
/// format carries `webhook-id` (the receiver's idempotency key, the same for every try);
/// `json` is signed as the Standard Webhooks specification says.
struct NoticeRequest: Equatable {
    var headers: [(String, String)]
    var body: [UInt8]

    static func == (a: NoticeRequest, b: NoticeRequest) -> Bool {
        a.body == b.body && a.headers.map { "\($0.0): \($0.1)" } == b.headers.map { "\($0.0): \($0.1)" }
    }

    /// `sentAt` is the try's time: `webhook-timestamp` is when it was signed, so a retry is signed
    /// again (receivers refuse timestamps far from their clock), with the same `webhook-id`.
    static func make(_ notice: Notice, for target: NotifyTarget, sentAt: Timestamp) -> NoticeRequest {
        let data = (try? JSONParser.parse(Array(notice.payload.utf8))) ?? .object([:])
        var headers = [("content-type", "application/json"), ("webhook-id", notice.webhookID)]
        let body: [UInt8]
        switch target.format {
        case .slack:
            body = JSONWriter.encode(["text": .string(NoticeText.slack(data))])
        case .teams:
            body = JSONWriter.encode(NoticeText.teamsMessage(data))
        case .json:
            body = JSONWriter.encode([
                "type": .string("alert.\(notice.event.rawValue)"), "timestamp": notice.createdAt.json, "data": data,
            ])
            let timestamp = String(sentAt.milliseconds / 1000)
            headers.append(("webhook-timestamp", timestamp))
            if let secret = target.secret, let signature = StandardWebhooks.signature(
                secret: secret, id: notice.webhookID, timestamp: timestamp, body: body)
            {
                headers.append(("webhook-signature", signature))
            }
        }
        return NoticeRequest(headers: headers, body: body)
    }
}

/// Standard Webhooks signatures: `v1,` + base64 of HMAC-SHA256 over `id.timestamp.body`, keyed
/// with the bytes the secret's base64 (after `whsec_`) stands for.
public enum StandardWebhooks {
    public static func signature(secret: String, id: String, timestamp: String, body: [UInt8]) -> String? {
        guard let key = key(secret) else { return nil }
        var signed = Array("\(id).\(timestamp).".utf8)
        signed += body
        let mac = HMAC<SHA256>.authenticationCode(for: signed, using: SymmetricKey(data: key))
        return "v1," + Data(mac).base64EncodedString()
    }

    /// A new secret: 24 random bytes, written as the specification's libraries read it.
    public static func newSecret() -> String {
        "whsec_" + Data(SymmetricKey(size: .init(bitCount: 192)).withUnsafeBytes { Array($0) }).base64EncodedString()
    }

    public static func key(_ secret: String) -> [UInt8]? {
        let encoded = secret.hasPrefix("whsec_") ? String(secret.dropFirst(6)) : secret
        guard let bytes = Data(base64Encoded: encoded), bytes.count >= 16, bytes.count <= 64 else { return nil }
        return Array(bytes)
    }
}

/// The words of a chat notice: one line a supervisor reads on a phone's lock screen.
enum NoticeText {
    static func title(_ kind: String) -> String {
        let words = kind.replacingOccurrences(of: "_", with: " ")
        return words.prefix(1).uppercased() + words.dropFirst()
    }

    /// Plain text: what the alert says, and what happened to it.
    static func line(_ data: JSONValue) -> String {
        let kind = title(data["kind"]?.stringValue ?? "alert")
        let team = data["team"]?.stringValue ?? "?"
        let text = data["text"]?.stringValue ?? ""
        let id = data["alert"]?.intValue ?? 0
        let ack = data["ack"]
        switch data["notice"]?.stringValue {
        case "acknowledged":
            let note = ack?["note"]?.stringValue ?? ""
            return "Acknowledged by \(ack?["by"]?.stringValue ?? "?"): \(kind) in \(team) (alert \(id))"
                + (note.isEmpty ? "" : ": \(note)")
        case "closed":
            return "Closed: \(kind) in \(team) (alert \(id)): \(ack?["note"]?.stringValue ?? "")"
        case "escalated":
            return "Escalation in \(team): \(text) (alert \(id), escalates alert \(data["escalates"]?.intValue ?? 0))"
        case "test":
            return text
        default:
            let severity = data["severity"]?.stringValue ?? "warning"
            return "\(severity.capitalized): \(kind) in \(team): \(text) (alert \(id))"
        }
    }

    /// Slack's mrkdwn reads `&`, `<` and `>` as markup: they are escaped as Slack asks.
    static func slack(_ data: JSONValue) -> String {
        line(data).replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }

    /// The message a Microsoft Teams Workflows "When a Teams webhook request is received" trigger
    /// takes: one Adaptive Card attachment.
    static func teamsMessage(_ data: JSONValue) -> JSONValue {
        var facts: [JSONValue] = [
            ["title": "Team", "value": .string(data["team"]?.stringValue ?? "")],
            ["title": "Kind", "value": .string(data["kind"]?.stringValue ?? "")],
            ["title": "Severity", "value": .string(data["severity"]?.stringValue ?? "")],
            ["title": "Alert", "value": .string(String(data["alert"]?.intValue ?? 0))],
        ]
        if let user = data["user"]?.stringValue { facts.append(["title": "User", "value": .string(user)]) }
        let color: JSONValue =
            switch (data["notice"]?.stringValue, data["severity"]?.stringValue) {
            case ("acknowledged", _), ("closed", _): "good"
            case (_, "critical"): "attention"
            default: "warning"
            }
        let card: JSONValue = [
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4",
            "body": [
                ["type": "TextBlock", "text": .string(line(data)), "wrap": true, "weight": "Bolder", "color": color],
                ["type": "FactSet", "facts": .array(facts)],
            ],
        ]
        return [
            "type": "message",
            "attachments": [["contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": .null, "content": card]],
        ]
    }
}
