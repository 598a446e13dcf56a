import Foundation
import GRDB
import HuddleCore
import HuddleProtocol

public struct UserRow: Sendable, Equatable {
    public var name: String
    public var role: Role
    public var teams: [String]
    public var tokenKey: String
    public var phoneID: String?
}

public struct TeamRow: Sendable, Equatable {
    public var name: String
    public var epoch: String
    public var members: Int
}

/// Users, teams and tokens: what `huddled user|team …` changes, in its own process or not.
extension Store {
    public static func validName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...64).contains(bytes.count), bytes.first != UInt8(ascii: "-") else { return false }
        return bytes.allSatisfy { b in
            (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == UInt8(ascii: "-") || b == UInt8(ascii: "_")
                || b == UInt8(ascii: ".")
        }
    }

    /// Creates a team with the default policy as version 1. Returns false if it already exists.
    @discardableResult
    public func addTeam(_ name: String, now: Timestamp) throws -> Bool {
        guard Self.validName(name) else {
            throw StoreError.invalid("team names use a-z, 0-9, '-', '_' and '.', at most 64 characters")
        }
        return try pool.write { db in
            if try Int64.fetchOne(db, sql: "SELECT id FROM teams WHERE name = ?", arguments: [name]) != nil {
                return false
            }
            try db.execute(
                sql: "INSERT INTO teams (name, epoch, created_at) VALUES (?, ?, ?)",
                arguments: [name, Self.newEpoch(), now.milliseconds])
            let policy = String(decoding: JSONWriter.encode(Policy().json), as: UTF8.self)
            try db.execute(
                sql: """
                    INSERT INTO policy_versions (team_id, version, at, by, comment, policy)
                    VALUES (?, 1, ?, 'system', 'default policy', ?)
                    """, arguments: [db.lastInsertedRowID, now.milliseconds, policy])
            try Self.bumpAdminVersion(db)
            return true
        }
    }

    public func listTeams() throws -> [TeamRow] {
        try pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT t.name, t.epoch, (SELECT COUNT(*) FROM memberships m WHERE m.team_id = t.id) AS members
                    FROM teams t ORDER BY t.name
                    """
            ).map { TeamRow(name: $0["name"], epoch: $0["epoch"], members: $0["members"]) }
        }
    }

    /// Adds a user and returns their token (shown once; only its hash is kept). Teams must exist.
    public func addUser(_ name: String, role: Role, teams: [String], phoneID: String? = nil, now: Timestamp) throws -> String {
        guard Self.validName(name), name != "system" else {
            throw StoreError.invalid("user names use a-z, 0-9, '-', '_' and '.', at most 64 characters ('system' is reserved)")
        }
        if let phoneID { try Self.checkPhoneID(phoneID) }
        let issued = Tokens.issue()
        try pool.write { db in
            if try Int64.fetchOne(db, sql: "SELECT id FROM users WHERE name = ?", arguments: [name]) != nil {
                throw StoreError.exists("user \(name)")
            }
            try db.execute(
                sql: """
                    INSERT INTO users (name, role, token_key, token_hash, created_at, since, phone_id)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [name, role.rawValue, issued.key, Data(issued.hash), now.milliseconds, now.milliseconds, phoneID])
            let userID = db.lastInsertedRowID
            try Self.insertMemberships(db, userID: userID, teams: teams)
            try Self.bumpAdminVersion(db)
        }
        return issued.token
    }

    /// Issues a new token for `name`; the old one stops working at once.
    public func rotateToken(_ name: String) throws -> String {
        let issued = Tokens.issue()
        try pool.write { db in
            try db.execute(
                sql: "UPDATE users SET token_key = ?, token_hash = ? WHERE name = ?",
                arguments: [issued.key, Data(issued.hash), name])
            guard db.changesCount == 1 else { throw StoreError.notFound("user \(name)") }
            try Self.bumpAdminVersion(db)
        }
        return issued.token
    }

    public func removeUser(_ name: String) throws {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM users WHERE name = ?", arguments: [name])
            guard db.changesCount == 1 else { throw StoreError.notFound("user \(name)") }
            try Self.bumpAdminVersion(db)
        }
    }

    /// Puts a user into teams (already a member of one: nothing changes); an unknown team fails.
    static func insertMemberships(_ db: Database, userID: Int64, teams: [String]) throws {
        for team in teams {
            guard let teamID = try Int64.fetchOne(db, sql: "SELECT id FROM teams WHERE name = ?", arguments: [team])
            else { throw StoreError.notFound("team \(team)") }
            try db.execute(
                sql: "INSERT OR IGNORE INTO memberships (team_id, user_id) VALUES (?, ?)", arguments: [teamID, userID])
        }
    }

    /// Sets (or, with nil, clears) the id a phone system knows the user by.
    public func setPhoneID(_ name: String, _ phoneID: String?) throws {
        if let phoneID { try Self.checkPhoneID(phoneID) }
        try pool.write { db in
            if let phoneID,
                let holder = try String.fetchOne(
                    db, sql: "SELECT name FROM users WHERE phone_id = ? AND name != ?", arguments: [phoneID, name])
            {
                throw StoreError.exists("phone id \(phoneID) (user \(holder) has it)")
            }
            try db.execute(sql: "UPDATE users SET phone_id = ? WHERE name = ?", arguments: [phoneID, name])
            guard db.changesCount == 1 else { throw StoreError.notFound("user \(name)") }
            try Self.bumpAdminVersion(db)
        }
    }

    /// Printable, no spaces, at most 256 characters: an Amazon Connect username, an agent ARN.
    static func checkPhoneID(_ id: String) throws {
        guard !id.isEmpty, id.unicodeScalars.count <= 256, id.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F })
        else { throw StoreError.invalid("a phone id is 1 to 256 characters without spaces or controls") }
    }

    /// Adds `name` to more teams.
    public func addMembership(_ name: String, teams: [String]) throws {
        try pool.write { db in
            guard let userID = try Int64.fetchOne(db, sql: "SELECT id FROM users WHERE name = ?", arguments: [name])
            else { throw StoreError.notFound("user \(name)") }
            try Self.insertMemberships(db, userID: userID, teams: teams)
            try Self.bumpAdminVersion(db)
        }
    }

    public func listUsers() throws -> [UserRow] {
        try pool.read { db in try Self.fetchUsers(db) }
    }

    static func fetchUsers(_ db: Database) throws -> [UserRow] {
        var teamsByUser: [String: [String]] = [:]
        for row in try Row.fetchAll(
            db,
            sql: """
                SELECT u.name AS user, t.name AS team FROM memberships m
                JOIN users u ON u.id = m.user_id JOIN teams t ON t.id = m.team_id ORDER BY t.name
                """)
        {
            teamsByUser[row["user"], default: []].append(row["team"])
        }
        return try Row.fetchAll(db, sql: "SELECT name, role, token_key, phone_id FROM users ORDER BY name").map { row in
            let name: String = row["name"]
            return UserRow(
                name: name, role: try Self.role(row["role"], of: name), teams: teamsByUser[name] ?? [],
                tokenKey: row["token_key"], phoneID: row["phone_id"])
        }
    }

    /// Creates the bootstrap admin on first start; returns its token, or nil if an admin exists.
    public func bootstrapAdminIfNeeded(now: Timestamp) throws -> String? {
        let hasAdmin = try pool.read { db in
            try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin')") ?? false
        }
        guard !hasAdmin else { return nil }
        return try addUser("admin", role: .admin, teams: [], now: now)
    }

    /// The user a token belongs to, if any. The hash comparison is constant-time.
    public func authenticate(_ token: String) async throws -> (name: String, tokenKey: String)? {
        guard let (key, hash) = Tokens.parse(token) else { return nil }
        let found: (String, [UInt8])? = try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT name, token_hash FROM users WHERE token_key = ?", arguments: [key])
                .map { row in (row["name"] as String, [UInt8](row["token_hash"] as Data)) }
        }
        guard let (name, stored) = found, Tokens.constantTimeEqual(stored, hash) else { return nil }
        return (name, key)
    }
}

/// What authenticates a user: the public key of their token and the hash of its secret.
public struct Credential: Sendable, Equatable {
    public var user: String
    public var hash: [UInt8]

    /// Constant-time check of a presented token's secret hash.
    public func matches(_ presentedHash: [UInt8]) -> Bool {
        Tokens.constantTimeEqual(hash, presentedHash)
    }
}

extension Store {
    /// Every token key with its user and secret hash, for authentication without a database
    /// read on each `session.hello`.
    public func loadCredentials() async throws -> [String: Credential] {
        try await pool.read { db in
            var credentials: [String: Credential] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT name, token_key, token_hash FROM users") {
                credentials[row["token_key"]] = Credential(user: row["name"], hash: [UInt8](row["token_hash"] as Data))
            }
            return credentials
        }
    }
}
