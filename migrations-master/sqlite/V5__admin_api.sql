-- The admin API (SQLite dialect): API tokens, idempotency keys, per-plan limits and revocable
-- admin sessions.

-- API tokens are rebuilt (nothing used the V1 table): a token is not owned by an admin account (it
-- outlives its creator; `created_by` records who made it, as an actor), and its name is unique
-- so it can be listed and revoked by name. Only a hash of the token is stored.
DROP TABLE api_tokens;
CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    token_hash   TEXT NOT NULL UNIQUE,
    role         TEXT NOT NULL CHECK (role IN ('owner', 'operator', 'viewer')),
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    last_used_at TEXT,
    expires_at   TEXT,
    revoked_at   TEXT
);

-- `Idempotency-Key`s of mutating admin requests. A row is claimed (no status yet) before the
-- request runs and completed with its response; a retry with the same key and request replays
-- it until `expires_at`, after which the key may be claimed again.
CREATE TABLE idempotency_keys (
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       INTEGER,
    response     TEXT,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    expires_at   TEXT NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);

-- Per-plan limits. A plan added without them gets the free plan's (SQLite cannot add a NOT NULL
-- column without a default; PostgreSQL keeps the same default so both behave alike).
ALTER TABLE plans ADD COLUMN max_users INTEGER NOT NULL DEFAULT 5 CHECK (max_users > 0);
ALTER TABLE plans ADD COLUMN requests_per_minute INTEGER NOT NULL DEFAULT 600 CHECK (requests_per_minute > 0);
UPDATE plans SET max_users = 5, requests_per_minute = 600 WHERE id = 'free';
UPDATE plans SET max_users = 50, requests_per_minute = 3000 WHERE id = 'standard';
UPDATE plans SET max_users = 500, requests_per_minute = 12000 WHERE id = 'premium';

-- Bumped to end every session of an admin (password change, disable, "log out everywhere").
ALTER TABLE admins ADD COLUMN session_version INTEGER NOT NULL DEFAULT 1;
