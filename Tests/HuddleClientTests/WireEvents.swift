import HuddleProtocol
import Testing

@testable import HuddleClient

/// Event fixtures as the server writes them: the fields a test leaves out that every event of
/// its type carries are filled in (a status's note, `by` and `since`, an alert's time, a policy's comment), and a
/// fixture the client's typed reading refuses is a failure of the test unless it says
/// `readable: false` (an event of a newer server).
enum WireEvents {
    static func notification(_ fields: [String: JSONValue], readable: Bool = true) -> EventNotification {
        var params = fields
        switch params["type"]?.stringValue {
        case "status"?:
            params["note"] = params["note"] ?? ""
            params["by"] = params["by"] ?? params["user"]
            params["since"] = params["since"] ?? params["at"]
        case "alert"?:
            params["created_at"] = params["created_at"] ?? params["at"]
        case "policy"?:
            params["comment"] = params["comment"] ?? ""
        default:
            break
        }
        guard let event = EventNotification(params: .object(params)) else {
            Issue.record("not an event notification: \(params)")
            return EventNotification(team: "", stream: .team, seq: 0, type: "", at: nil, params: .object(params))
        }
        if readable, case .failure(let error) = event.decoded {
            Issue.record("the fixture is not an event as the server writes it: \(error)")
        }
        return event
    }
}
