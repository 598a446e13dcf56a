import Foundation
import GRDB
import HuddleCore
import HuddleProtocol

/// Huddle's SQLite database (system libsqlite3 through GRDB): WAL, forward migrations, an
/// append-only event log per team, the current state, users and token hashes. Every method that
/// touches the disk is either synchronous (for the admin subcommands, which own their process)
/// or `async` running on GRDB's own queues, never on an event-loop thread.
public final class Store: Sendable {
    public enum StoreError: Error, CustomStringConvertible, Equatable {
        case newerSchema(String)
        case exists(String)
        case notFound(String)
        case invalid(String)

        public var description: String {
            switch self {
            case .newerSchema(let path): "\(path) was written by a newer Huddle; refusing to open it"
            case .exists(let what): "\(what) already exists"
            case .notFound(let what): "\(what) does not exist"
            case .invalid(let why): why
            }
        }
    }

    let pool: DatabasePool
    public let path: String

    /// Opens (creating if needed) the database at `path` and migrates it forward.
    /// `synchronous` is FULL by default: an acknowledged change survives a power cut, not only a
    /// killed process; group commit pays the fsync once for many changes.
    public init(path: String, synchronousFull: Bool = true) throws {
        self.path = path
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.foreignKeysEnabled = true
        configuration.prepareDatabase { db in
            try db.execute(sql: synchronousFull ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        let migrator = Schema.migrator
        let superseded = try pool.read { db in try migrator.hasBeenSuperseded(db) }
        guard !superseded else { throw StoreError.newerSchema(path) }
        try migrator.migrate(pool)
    }

    static func newEpoch() -> String {
        var generator = SystemRandomNumberGenerator()
        return Tokens.hex((0..<8).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    /// Bumped by every admin change, so that a running daemon notices changes made by
    /// `huddled user|team …` from another process.
    public func adminVersion() async throws -> Int64 {
        try await pool.read { db in
            Int64(try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'admin_version'") ?? "0") ?? 0
        }
    }

    static func bumpAdminVersion(_ db: Database) throws {
        try db.execute(sql: "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'admin_version'")
    }

    public func close() throws {
        try pool.close()
    }
}
