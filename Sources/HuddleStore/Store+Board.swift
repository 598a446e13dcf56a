import Foundation
import GRDB
import HuddleProtocol

/// A wall screen's display link (`huddled display add TEAM`): read-only, one team.
public struct Display: Sendable, Equatable {
    public var key: String
    public var team: String
    public var hash: [UInt8]
    public var createdAt: Timestamp

    /// Constant-time check of a presented key's secret hash.
    public func matches(_ presentedHash: [UInt8]) -> Bool {
        Tokens.constantTimeEqual(hash, presentedHash)
    }
}

/// A signed-in browser (`POST /login`): at most 12 h, and only while its user's token is the one
/// it signed in with (`tokenKey`).
public struct BoardSession: Sendable, Equatable {
    public var key: String
    public var hash: [UInt8]
    public var user: String
    public var tokenKey: String
    /// What the page sends back in `X-Huddle-CSRF` with each POST.
    public var csrf: String
    public var expiresAt: Timestamp

    public init(key: String, hash: [UInt8], user: String, tokenKey: String, csrf: String, expiresAt: Timestamp) {
        self.key = key
        self.hash = hash
        self.user = user
        self.tokenKey = tokenKey
        self.csrf = csrf
        self.expiresAt = expiresAt
    }
}

extension Store {
    /// Makes a display link for `team`; returns its key (shown once; only its hash is kept).
    public func addDisplay(team: String, now: Timestamp) throws -> String {
        let issued = Tokens.issue(prefix: Tokens.displayPrefix)
        try pool.write { db in
            guard let teamID = try Int64.fetchOne(db, sql: "SELECT id FROM teams WHERE name = ?", arguments: [team])
            else { throw StoreError.notFound("team \(team)") }
            try db.execute(
                sql: "INSERT INTO displays (key, hash, team_id, created_at) VALUES (?, ?, ?, ?)",
                arguments: [issued.key, Data(issued.hash), teamID, now.milliseconds])
            try Self.bumpAdminVersion(db)
        }
        return issued.token
    }

    public func listDisplays() throws -> [Display] {
        try pool.read(Self.displays)
    }

    /// Removes a display link by its key (the part after `hdd_`, as `display list` shows it).
    public func removeDisplay(_ key: String) throws {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM displays WHERE key = ?", arguments: [key])
            guard db.changesCount == 1 else { throw StoreError.notFound("display \(key)") }
            try Self.bumpAdminVersion(db)
        }
    }

    public func loadDisplays() async throws -> [String: Display] {
        try await pool.read { db in
            Dictionary(uniqueKeysWithValues: try Self.displays(db).map { ($0.key, $0) })
        }
    }

    private static func displays(_ db: Database) throws -> [Display] {
        try Row.fetchAll(
            db,
            sql: """
                SELECT d.key, d.hash, t.name AS team, d.created_at FROM displays d JOIN teams t ON t.id = d.team_id
                ORDER BY t.name, d.created_at
                """
        ).map {
            Display(
                key: $0["key"], team: $0["team"], hash: [UInt8]($0["hash"] as Data),
                createdAt: Timestamp(milliseconds: $0["created_at"]))
        }
    }

    /// The browser sessions that have not expired by `now` (the expired ones are deleted).
    public func loadBoardSessions(now: Timestamp) async throws -> [String: BoardSession] {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM board_sessions WHERE expires_at <= ?", arguments: [now.milliseconds])
            var sessions: [String: BoardSession] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT * FROM board_sessions") {
                let session = BoardSession(
                    key: row["key"], hash: [UInt8](row["hash"] as Data), user: row["user"], tokenKey: row["token_key"],
                    csrf: row["csrf"], expiresAt: Timestamp(milliseconds: row["expires_at"]))
                sessions[session.key] = session
            }
            return sessions
        }
    }

    public func addBoardSession(_ session: BoardSession) async throws {
        try await pool.write { db in
            try db.execute(
                sql: "INSERT INTO board_sessions (key, hash, user, token_key, csrf, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [
                    session.key, Data(session.hash), session.user, session.tokenKey, session.csrf,
                    session.expiresAt.milliseconds,
                ])
        }
    }

    public func removeBoardSession(key: String) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM board_sessions WHERE key = ?", arguments: [key])
        }
    }
}
