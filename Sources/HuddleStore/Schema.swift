import GRDB

/// The schema, as forward migrations. GRDB records applied migrations in `grdb_migrations`; a
/// database written by a newer Huddle (one with migrations this build does not know) is refused.
enum Schema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
                    INSERT INTO meta (key, value) VALUES ('admin_version', '0');
                    CREATE TABLE teams (
                        id INTEGER PRIMARY KEY,
                        name TEXT NOT NULL UNIQUE,
                        epoch TEXT NOT NULL,
                        seq INTEGER NOT NULL DEFAULT 0,
                        supervisors_seq INTEGER NOT NULL DEFAULT 0,
                        created_at INTEGER NOT NULL
                    );
                    CREATE TABLE users (
                        id INTEGER PRIMARY KEY,
                        name TEXT NOT NULL UNIQUE,
                        role TEXT NOT NULL,
                        token_key TEXT NOT NULL UNIQUE,
                        token_hash BLOB NOT NULL,
                        created_at INTEGER NOT NULL,
                        status TEXT NOT NULL DEFAULT 'offline',
                        note TEXT NOT NULL DEFAULT '',
                        since INTEGER NOT NULL,
                        expected_until INTEGER,
                        status_by TEXT NOT NULL DEFAULT 'system'
                    );
                    CREATE TABLE memberships (
                        team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
                        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                        connected INTEGER NOT NULL DEFAULT 0,
                        PRIMARY KEY (team_id, user_id)
                    ) WITHOUT ROWID;
                    CREATE TABLE events (
                        team_id INTEGER NOT NULL REFERENCES teams(id),
                        stream INTEGER NOT NULL,
                        seq INTEGER NOT NULL,
                        at INTEGER NOT NULL,
                        type TEXT NOT NULL,
                        user TEXT,
                        line BLOB NOT NULL,
                        PRIMARY KEY (team_id, stream, seq)
                    ) WITHOUT ROWID;
                    CREATE INDEX events_at ON events (at);
                    CREATE TABLE policy_versions (
                        team_id INTEGER NOT NULL REFERENCES teams(id),
                        version INTEGER NOT NULL,
                        at INTEGER NOT NULL,
                        by TEXT NOT NULL,
                        comment TEXT NOT NULL,
                        policy TEXT NOT NULL,
                        PRIMARY KEY (team_id, version)
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v2-coverage") { db in
            try db.execute(
                sql: """
                    ALTER TABLE users ADD COLUMN status_reason TEXT;
                    ALTER TABLE users ADD COLUMN overdue_alerted_since INTEGER;
                    ALTER TABLE teams ADD COLUMN waitlist TEXT NOT NULL DEFAULT '[]';
                    ALTER TABLE teams ADD COLUMN coverage TEXT;
                    CREATE TABLE alerts (
                        id INTEGER PRIMARY KEY,
                        team_id INTEGER NOT NULL REFERENCES teams(id),
                        kind TEXT NOT NULL,
                        severity TEXT NOT NULL,
                        user TEXT,
                        reason TEXT,
                        text TEXT NOT NULL,
                        created_at INTEGER NOT NULL,
                        status_since INTEGER,
                        escalates INTEGER,
                        ack_by TEXT,
                        ack_at INTEGER,
                        ack_note TEXT
                    );
                    CREATE INDEX alerts_open ON alerts (team_id) WHERE ack_at IS NULL;
                    """)
        }
        migrator.registerMigration("v3-queue") { db in
            try db.execute(sql: "ALTER TABLE teams ADD COLUMN queue TEXT")
        }
        // When each user's presence last turned false, so that the ghost-session clock survives
        // a restart (SPEC §3: every timer is re-armed from stored timestamps).
        migrator.registerMigration("v4-absence") { db in
            try db.execute(sql: "ALTER TABLE users ADD COLUMN absent_since INTEGER")
        }
        // Retention prunes each stream from its oldest seq (`Store.prune`) and needs no index on
        // `at`, which every commit paid for.
        migrator.registerMigration("v5-prune-by-seq") { db in
            try db.execute(sql: "DROP INDEX IF EXISTS events_at")
        }
        // What a phone-system bridge said of each agent's phone (SPEC §10), as one JSON object
        // (`PhoneState.json`): the call in progress with its id, the login, the alerts' marks.
        migrator.registerMigration("v6-phone") { db in
            try db.execute(sql: "ALTER TABLE users ADD COLUMN phone TEXT")
        }
        // The name a phone system knows the user by (Amazon Connect's username), for bridges.
        migrator.registerMigration("v7-phone-id") { db in
            try db.execute(
                sql: """
                    ALTER TABLE users ADD COLUMN phone_id TEXT;
                    CREATE UNIQUE INDEX users_phone_id ON users (phone_id) WHERE phone_id IS NOT NULL;
                    """)
        }
        // The wallboard (SPEC §11): wall screens' display links, and signed-in browsers'
        // sessions (only the hash of each secret is kept, as for tokens). A session names the
        // token key its user had at sign-in: once the token is rotated the session is refused.
        migrator.registerMigration("v8-board") { db in
            try db.execute(
                sql: """
                    CREATE TABLE displays (
                        key TEXT PRIMARY KEY,
                        hash BLOB NOT NULL,
                        team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
                        created_at INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    CREATE TABLE board_sessions (
                        key TEXT PRIMARY KEY,
                        hash BLOB NOT NULL,
                        user TEXT NOT NULL,
                        token_key TEXT NOT NULL,
                        csrf TEXT NOT NULL,
                        expires_at INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    """)
        }
        // Alerts that reach supervisors where they are (SPEC §12): the targets, and the outbox of
        // notices, written in the transaction that stores their alert. A team's breach clock
        // (when its announced coverage entered breach) survives a restart with its coverage.
        migrator.registerMigration("v9-notify") { db in
            try db.execute(
                sql: """
                    ALTER TABLE teams ADD COLUMN breach_since INTEGER;
                    CREATE TABLE notify_targets (
                        id INTEGER PRIMARY KEY,
                        team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
                        url TEXT NOT NULL,
                        format TEXT NOT NULL,
                        kinds TEXT,
                        min_severity TEXT NOT NULL,
                        secret TEXT,
                        created_at INTEGER NOT NULL,
                        disabled_at INTEGER,
                        disabled_reason TEXT
                    );
                    CREATE TABLE notices (
                        id INTEGER PRIMARY KEY,
                        target_id INTEGER NOT NULL REFERENCES notify_targets(id) ON DELETE CASCADE,
                        alert_id INTEGER NOT NULL,
                        event TEXT NOT NULL,
                        webhook_id TEXT NOT NULL,
                        payload TEXT NOT NULL,
                        created_at INTEGER NOT NULL,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        next_at INTEGER NOT NULL,
                        state TEXT NOT NULL DEFAULT 'pending',
                        outcome TEXT,
                        done_at INTEGER
                    );
                    CREATE INDEX notices_pending ON notices (target_id, id) WHERE state = 'pending';
                    CREATE INDEX notices_alert ON notices (alert_id);
                    """)
        }
        // The queue report asked of agents on a rota (SPEC §14): the open request and when each
        // agent was last asked, as JSON beside the team's other current state.
        migrator.registerMigration("v10-rota") { db in
            try db.execute(sql: "ALTER TABLE teams ADD COLUMN rota TEXT")
        }
        return migrator
    }
}
