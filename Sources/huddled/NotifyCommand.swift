import ArgumentParser
import Foundation
import HuddleCore
import HuddleProtocol
import HuddleServer
import HuddleStore

/// `huddled notify …` (SPEC §12): where a team's alerts are also sent. Like the other admin
/// commands these work while the daemon runs: a target added now gets the next alert.
struct NotifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notify", abstract: "Send a team's alerts to Slack, Microsoft Teams or a signed webhook.",
        discussion: """
            Notices carry what supervisors see (a wellbeing break's reason included): point a target at \
            a channel only supervisors read. URLs and secrets are never logged or shown; `notify list` \
            shows the host only.
            """,
        subcommands: [Add.self, List.self, Remove.self, Test.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a target; a json target's signing secret is printed once unless --secret-file gives it.")
        @Argument(help: "The team whose alerts go there.") var team: String
        @Option(help: "The receiver's URL (https; a Slack incoming webhook, a Teams Workflows trigger, or any webhook).")
        var url: String
        @Option(help: "slack, teams or json (signed as Standard Webhooks says).") var format: String
        @Option(help: "Only these alert kinds, comma-separated (default: every kind).") var kinds: String?
        @Option(help: "info, warning or critical: the least severe alert sent (default info).") var minSeverity = "info"
        @Option(help: "A file holding the json format's secret (whsec_ + base64).") var secretFile: String?
        @Flag(help: "Accept an http:// URL (loopback tests; the daemon also needs --notify-allow-http).") var allowHttp = false
        @OptionGroup var data: DataOption

        func run() async throws {
            guard let format = NotifyTarget.Format(rawValue: format) else {
                throw ValidationError("--format must be slack, teams or json")
            }
            try NotifyCommand.check(url: url, allowHTTP: allowHttp)
            guard let severity = Alert.Severity(rawValue: minSeverity) else {
                throw ValidationError("--min-severity must be info, warning or critical")
            }
            var kindSet: Set<Alert.Kind>?
            if let kinds {
                var set = Set<Alert.Kind>()
                for name in kinds.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
                    guard let kind = Alert.Kind(rawValue: name) else {
                        let known = Alert.Kind.allCases.map(\.rawValue).joined(separator: ", ")
                        throw ValidationError("unknown alert kind \(name) (kinds: \(known))")
                    }
                    set.insert(kind)
                }
                kindSet = set
            }
            var secret: String?
            var generated = false
            if let secretFile {
                guard format == .json else { throw ValidationError("--secret-file: only json targets are signed") }
                let text = try String(contentsOfFile: secretFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
                guard StandardWebhooks.key(text) != nil else {
                    throw ValidationError("\(secretFile) must hold whsec_ and the base64 of 16 to 64 bytes")
                }
                secret = text
            } else if format == .json {
                secret = StandardWebhooks.newSecret()
                generated = true
            }
            let id = try openStore(data).addNotifyTarget(
                team: team, url: url, format: format, kinds: kindSet, minSeverity: severity, secret: secret,
                now: SystemWallClock().now())
            await tellDaemon(data)
            print("notify target \(id) added: \(team)'s alerts go to \(format.rawValue) at \(NotifyCommand.host(url))")
            if generated, let secret {
                print("signing secret (shown once; give it to the receiver):")
                print(secret)
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List targets (the host only), their filters and outboxes.")
        @OptionGroup var data: DataOption

        func run() throws {
            let store = try openStore(data)
            let counts = try store.noticeCounts()
            for target in try store.notifyTargets() {
                let count = counts[target.id] ?? NoticeCounts()
                let kinds = target.kinds.map { $0.map(\.rawValue).sorted().joined(separator: ",") } ?? "all kinds"
                let state =
                    target.disabledAt.map { "disabled \($0.rfc3339) (\(target.disabledReason ?? "?"))" } ?? "active"
                var line = "\(target.id)\t\(target.team)\t\(target.format.rawValue)\t\(target.host)\t\(kinds)"
                line += "\t>= \(target.minSeverity.rawValue)\t\(state)"
                line += "\t\(count.pending) pending, \(count.delivered) delivered, \(count.givenUp) given up"
                if let last = count.lastOutcome { line += "\tlast: \(last)" }
                print(line)
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a target and the notices still waiting for it.")
        @Argument(help: "The target's id, as `notify list` shows it.") var id: Int64
        @OptionGroup var data: DataOption

        func run() async throws {
            try openStore(data).removeNotifyTarget(id)
            await tellDaemon(data)
            print("notify target \(id) removed")
        }
    }

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Post a test notice to a target now and say what the receiver answered (exit 1 if not delivered).")
        @Argument(help: "The target's id, as `notify list` shows it.") var id: Int64
        @Flag(help: "Allow an http:// target (loopback tests).") var allowHttp = false
        @OptionGroup var data: DataOption

        func run() async throws {
            guard let target = try openStore(data).notifyTargets().first(where: { $0.id == id }) else {
                throw ValidationError("no notify target \(id)")
            }
            try NotifyCommand.check(url: target.url, allowHTTP: allowHttp)
            let now = SystemWallClock().now()
            let alert = Alert(
                id: 0, kind: .escalation, severity: .info, team: target.team,
                text: "Test notice from huddled: alerts of \(target.team) will arrive here.", createdAt: now)
            let notice = Notice(
                id: 0, targetID: id, alertID: 0, event: .test, webhookID: "huddle-test-\(id)-\(now.milliseconds)",
                payload: String(decoding: JSONWriter.encode(NoticePayload.json(alert, event: .test, ack: nil)), as: UTF8.self),
                createdAt: now, attempts: 0, nextAt: now, state: .pending)
            let poster = NoticePoster(clock: SystemWallClock())
            let outcome = await poster.post(notice, to: target)
            await poster.shutdown()
            switch outcome {
            case .delivered(let status):
                print("delivered: \(target.host) answered \(status)")
            case .gone:
                throw Failure("\(target.host) answered 410 Gone: the receiver is gone (the daemon disables a target on it)")
            case .failed(let reason, _):
                throw Failure("not delivered: \(reason) from \(target.host)")
            }
        }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ text: String) { description = text }
    }

    static func check(url: String, allowHTTP: Bool) throws {
        guard let parts = URLComponents(string: url), let scheme = parts.scheme?.lowercased(), let host = parts.host,
            !host.isEmpty
        else { throw ValidationError("\(url.isEmpty ? "the URL" : "that URL") is not an absolute http(s) URL") }
        switch scheme {
        case "https": return
        case "http" where allowHTTP: return
        case "http": throw ValidationError("notices go over https only (--allow-http for a loopback receiver in tests)")
        default: throw ValidationError("the URL must be https")
        }
    }

    static func host(_ url: String) -> String { URLComponents(string: url)?.host ?? "?" }
}
