import HuddleCore
import HuddleProtocol

/// A row the daemon cannot read as what it must be. The daemon refuses to start with this
/// rather than read it as a default (a supervisor as an agent, a team's rules as the built-in
/// ones): the database was changed by hand or is damaged, and an operator must look.
public struct CorruptRow: Error, CustomStringConvertible {
    public var description: String
}

extension Store {
    static func role(_ raw: String, of user: String) throws -> Role {
        guard let role = Role(rawValue: raw) else {
            throw CorruptRow(description: "huddle.sqlite: user '\(user)' has role '\(raw)', which is not agent, supervisor, bot or admin")
        }
        return role
    }

    static func status(_ raw: String, of user: String) throws -> Status {
        guard let status = Status(rawValue: raw) else {
            throw CorruptRow(description: "huddle.sqlite: user '\(user)' has status '\(raw)', which is not a status")
        }
        return status
    }

    static func policy(_ text: String, team: String, version: Int64) throws -> Policy {
        do {
            var policy = try Policy.decode(JSONParser.parse(text))
            policy.version = version
            return policy
        } catch {
            throw CorruptRow(description: "huddle.sqlite: policy version \(version) of team '\(team)' cannot be read: \(error)")
        }
    }

    /// A user's phone (NULL: no bridge has said anything of it).
    static func phone(_ text: String?, of user: String) throws -> PhoneState {
        guard let text else { return .unknown }
        guard let json = try? JSONParser.parse(text), let phone = PhoneState(json: json) else {
            throw CorruptRow(description: "huddle.sqlite: the phone of user '\(user)' cannot be read: \(text.prefix(80))")
        }
        return phone
    }

    /// A team's JSON column (its waitlist, coverage or queue) read back; nil only for NULL.
    static func teamColumn<T>(_ text: String?, _ column: String, of team: String, _ read: (JSONValue) -> T?) throws -> T? {
        guard let text else { return nil }
        guard let json = try? JSONParser.parse(text), let value = read(json) else {
            throw CorruptRow(description: "huddle.sqlite: the \(column) of team '\(team)' cannot be read: \(text.prefix(80))")
        }
        return value
    }
}
