//! Versioned schema migrations, one list per backend. Both lists end at the same
//! schema (same tables, columns and meanings), so the statements in
//! `sql_store.rs` run unchanged on either; only the DDL dialect differs. A
//! version, once released, is never edited: changes are new versions.
//!
//! SQLite's history starts in the first release (projects and keys, then the
//! pipeline switches); PostgreSQL arrived with accounts and starts at the
//! resulting schema.

/// SQLite: `INTEGER` ids, timestamps as RFC 3339 text, booleans as 0/1.
pub const SQLITE: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE projects (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE api_keys (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            project_id INTEGER NOT NULL REFERENCES projects(id),
            kind TEXT NOT NULL CHECK (kind IN ('ingest', 'admin')),
            lookup TEXT NOT NULL UNIQUE,
            hash TEXT NOT NULL,
            created_at TEXT NOT NULL,
            revoked_at TEXT
        );",
    ),
    (
        2,
        "ALTER TABLE projects ADD COLUMN drop_bots INTEGER NOT NULL DEFAULT 0;
         ALTER TABLE projects ADD COLUMN use_ip INTEGER NOT NULL DEFAULT 1;",
    ),
    (
        3,
        "CREATE TABLE users (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            email TEXT UNIQUE,
            name TEXT NOT NULL DEFAULT '',
            password_hash TEXT,
            is_superuser INTEGER NOT NULL DEFAULT 0,
            is_active INTEGER NOT NULL DEFAULT 1,
            failed_logins INTEGER NOT NULL DEFAULT 0,
            locked_until TEXT,
            created_at TEXT NOT NULL
        );
        CREATE TABLE memberships (
            project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'viewer')),
            created_at TEXT NOT NULL,
            PRIMARY KEY (project_id, user_id)
        );
        CREATE INDEX memberships_user ON memberships (user_id);
        CREATE TABLE personal_keys (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            scope TEXT NOT NULL CHECK (scope IN ('read', 'write')),
            lookup TEXT NOT NULL UNIQUE,
            hash TEXT NOT NULL,
            created_at TEXT NOT NULL,
            last_used_at TEXT,
            revoked_at TEXT
        );
        CREATE TABLE auth_sessions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            csrf TEXT NOT NULL,
            created_at TEXT NOT NULL,
            revoked_at TEXT
        );
        CREATE TABLE session_tokens (
            digest TEXT PRIMARY KEY,
            session_id INTEGER NOT NULL REFERENCES auth_sessions(id) ON DELETE CASCADE,
            kind TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
            expires_at TEXT NOT NULL,
            used_at TEXT
        );
        CREATE INDEX session_tokens_session ON session_tokens (session_id);
        ALTER TABLE api_keys ADD COLUMN expires_at TEXT;
        ALTER TABLE projects ADD COLUMN timezone TEXT NOT NULL DEFAULT 'UTC';
        ALTER TABLE projects ADD COLUMN allowed_origins TEXT NOT NULL DEFAULT '[]';
        ALTER TABLE projects ADD COLUMN retention_days INTEGER;
        -- The first start's admin tokens become the personal keys of a first,
        -- still unclaimed superuser, who owns every existing project.
        INSERT INTO users (email, name, is_superuser, created_at)
            SELECT NULL, 'admin', 1, (SELECT min(created_at) FROM api_keys WHERE kind = 'admin')
            WHERE EXISTS (SELECT 1 FROM api_keys WHERE kind = 'admin');
        INSERT INTO memberships (project_id, user_id, role, created_at)
            SELECT p.id, u.id, 'owner', p.created_at FROM projects p, users u;
        INSERT INTO personal_keys (user_id, name, scope, lookup, hash, created_at, revoked_at)
            SELECT u.id, 'bootstrap admin token', 'write', k.lookup, k.hash, k.created_at, k.revoked_at
            FROM api_keys k, users u WHERE k.kind = 'admin';
        DELETE FROM api_keys WHERE kind = 'admin';",
    ),
    (
        4,
        "CREATE TABLE invites (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
            email TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'viewer')),
            digest TEXT NOT NULL UNIQUE,
            invited_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            accepted_at TEXT,
            accepted_by INTEGER REFERENCES users(id) ON DELETE SET NULL
        );
        CREATE INDEX invites_project ON invites (project_id);",
    ),
    (
        5,
        "CREATE TABLE insights (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            query TEXT NOT NULL,
            created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX insights_project ON insights (project_id);
        CREATE TABLE dashboards (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            share_digest TEXT UNIQUE,
            shared_at TEXT,
            created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX dashboards_project ON dashboards (project_id);
        CREATE TABLE dashboard_tiles (
            dashboard_id INTEGER NOT NULL REFERENCES dashboards(id) ON DELETE CASCADE,
            insight_id INTEGER NOT NULL REFERENCES insights(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            PRIMARY KEY (dashboard_id, insight_id)
        );
        CREATE INDEX dashboard_tiles_insight ON dashboard_tiles (insight_id);",
    ),
    (
        6,
        "CREATE TABLE instance_secrets (
            name TEXT PRIMARY KEY,
            value BLOB NOT NULL
        );",
    ),
    (
        7,
        // The next person id of a deployment whose workers share persons
        // (`shared_persons.rs`); one row.
        "CREATE TABLE person_id_counter (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            next BIGINT NOT NULL
        );",
    ),
];

/// PostgreSQL: identity `BIGINT` ids, `TIMESTAMPTZ`, `BOOLEAN`.
pub const POSTGRES: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE projects (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        name TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        drop_bots BOOLEAN NOT NULL DEFAULT FALSE,
        use_ip BOOLEAN NOT NULL DEFAULT TRUE,
        timezone TEXT NOT NULL DEFAULT 'UTC',
        allowed_origins TEXT NOT NULL DEFAULT '[]',
        retention_days BIGINT
    );
    CREATE TABLE api_keys (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('ingest', 'admin')),
        lookup TEXT NOT NULL UNIQUE,
        hash TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        revoked_at TIMESTAMPTZ,
        expires_at TIMESTAMPTZ
    );
    CREATE INDEX api_keys_project ON api_keys (project_id);
    CREATE TABLE users (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        email TEXT UNIQUE,
        name TEXT NOT NULL DEFAULT '',
        password_hash TEXT,
        is_superuser BOOLEAN NOT NULL DEFAULT FALSE,
        is_active BOOLEAN NOT NULL DEFAULT TRUE,
        failed_logins BIGINT NOT NULL DEFAULT 0,
        locked_until TIMESTAMPTZ,
        created_at TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE memberships (
        project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'viewer')),
        created_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (project_id, user_id)
    );
    CREATE INDEX memberships_user ON memberships (user_id);
    CREATE TABLE personal_keys (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        scope TEXT NOT NULL CHECK (scope IN ('read', 'write')),
        lookup TEXT NOT NULL UNIQUE,
        hash TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        last_used_at TIMESTAMPTZ,
        revoked_at TIMESTAMPTZ
    );
    CREATE TABLE auth_sessions (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        csrf TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        revoked_at TIMESTAMPTZ
    );
    CREATE TABLE session_tokens (
        digest TEXT PRIMARY KEY,
        session_id BIGINT NOT NULL REFERENCES auth_sessions(id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
        expires_at TIMESTAMPTZ NOT NULL,
        used_at TIMESTAMPTZ
    );
    CREATE INDEX session_tokens_session ON session_tokens (session_id);",
    ),
    (
        2,
        "CREATE TABLE invites (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
            email TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'viewer')),
            digest TEXT NOT NULL UNIQUE,
            invited_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
            created_at TIMESTAMPTZ NOT NULL,
            expires_at TIMESTAMPTZ NOT NULL,
            accepted_at TIMESTAMPTZ,
            accepted_by BIGINT REFERENCES users(id) ON DELETE SET NULL
        );
        CREATE INDEX invites_project ON invites (project_id);",
    ),
    (
        3,
        "CREATE TABLE insights (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            query TEXT NOT NULL,
            created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
            created_at TIMESTAMPTZ NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL
        );
        CREATE INDEX insights_project ON insights (project_id);
        CREATE TABLE dashboards (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            share_digest TEXT UNIQUE,
            shared_at TIMESTAMPTZ,
            created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
            created_at TIMESTAMPTZ NOT NULL
        );
        CREATE INDEX dashboards_project ON dashboards (project_id);
        CREATE TABLE dashboard_tiles (
            dashboard_id BIGINT NOT NULL REFERENCES dashboards(id) ON DELETE CASCADE,
            insight_id BIGINT NOT NULL REFERENCES insights(id) ON DELETE CASCADE,
            position BIGINT NOT NULL,
            PRIMARY KEY (dashboard_id, insight_id)
        );
        CREATE INDEX dashboard_tiles_insight ON dashboard_tiles (insight_id);",
    ),
    (
        4,
        "CREATE TABLE instance_secrets (
            name TEXT PRIMARY KEY,
            value BYTEA NOT NULL
        );",
    ),
    (
        5,
        "CREATE TABLE person_id_counter (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            next BIGINT NOT NULL
        );",
    ),
];
