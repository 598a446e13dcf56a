import HuddleProtocol

/// One stored version of a team's policy.
public struct PolicyVersion: Sendable, Equatable {
    public var version: Int64
    public var at: Timestamp
    public var by: String
    public var comment: String
    public var policy: Policy

    public init(version: Int64, at: Timestamp, by: String, comment: String, policy: Policy) {
        self.version = version
        self.at = at
        self.by = by
        self.comment = comment
        self.policy = policy
    }

    public var json: JSONValue {
        ["version": .int(version), "at": at.json, "by": .string(by), "comment": .string(comment), "policy": policy.json]
    }
}

extension Floor {
    /// A supervisor changes the team's policy: a new version, announced to the team.
    public mutating func setPolicy(
        by name: String, team teamName: String, patch: [String: JSONValue], comment: String, now: Timestamp
    ) throws(RPCError) -> Event {
        let user = try user(name)
        let team = try requireMember(name, of: teamName)
        guard user.role == .supervisor || user.role == .admin else {
            throw .forbidden("only supervisors may change the policy")
        }
        let comment = try TextRules.check(
            comment, param: "comment", maxScalars: TextRules.maxCommentScalars, allowEmpty: false)
        var policy = try team.policy.merging(patch)
        policy.version = team.policy.version + 1
        return emit(
            team: teamName, .policy(version: policy.version, by: name, comment: comment, policy: policy), at: now)
    }
}
