-- The master registry (SQLite dialect: UUIDs, timestamps and JSON are TEXT). Secrets are stored sealed by the vault (`tv1.<key id>.<payload>`), never
-- in plaintext; `*_key_id` mirrors the sealing key so `keys rotate` can find what to re-wrap.

CREATE TABLE plans (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    max_connections  INTEGER NOT NULL CHECK (max_connections > 0),
    storage_limit_mb INTEGER NOT NULL CHECK (storage_limit_mb > 0),
    features         TEXT NOT NULL DEFAULT '{}',
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

INSERT INTO plans (id, name, max_connections, storage_limit_mb, features) VALUES
    ('free', 'Free', 2, 512, '{}'),
    ('standard', 'Standard', 5, 5120, '{}'),
    ('premium', 'Premium', 10, 51200, '{}');

CREATE TABLE db_servers (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL UNIQUE,
    dialect             TEXT NOT NULL CHECK (dialect IN ('postgres', 'sqlite')),
    url                 TEXT NOT NULL,
    admin_secret        TEXT,
    admin_secret_key_id TEXT,
    capacity            INTEGER NOT NULL CHECK (capacity > 0),
    state               TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'draining', 'retired')),
    created_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE tenants (
    id               TEXT PRIMARY KEY,
    subdomain        TEXT NOT NULL,
    name             TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('provisioning', 'active', 'suspended', 'failed', 'deleted')),
    status_reason    TEXT,
    plan_id          TEXT NOT NULL REFERENCES plans (id),
    db_server_id     TEXT REFERENCES db_servers (id),
    db_name          TEXT NOT NULL,
    db_user          TEXT,
    db_secret        TEXT,
    db_secret_key_id TEXT,
    schema_version   INTEGER,
    -- Set when the last migration attempt failed (cleared on success); see `tenants migrate`.
    migration_error  TEXT,
    storage_limit_mb INTEGER,
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    deleted_at       TEXT
);
-- A subdomain is unique among live tenants; deleted tenants keep a tombstone and free the name.
CREATE UNIQUE INDEX tenants_live_subdomain ON tenants (subdomain) WHERE status <> 'deleted';
CREATE INDEX tenants_status ON tenants (status);
CREATE INDEX tenants_db_server ON tenants (db_server_id);

CREATE TABLE tenant_domains (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    domain      TEXT NOT NULL UNIQUE,
    verified_at TEXT,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX tenant_domains_tenant ON tenant_domains (tenant_id);

CREATE TABLE admins (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('owner', 'operator', 'viewer')),
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    last_login_at TEXT,
    disabled_at   TEXT
);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    admin_id     TEXT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    role         TEXT NOT NULL CHECK (role IN ('owner', 'operator', 'viewer')),
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    last_used_at TEXT,
    expires_at   TEXT,
    revoked_at   TEXT
);

CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    tenant_id TEXT,
    ip        TEXT,
    detail    TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, at);

CREATE TABLE backups (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants (id),
    path           TEXT NOT NULL,
    bytes          INTEGER,
    sha256         TEXT,
    schema_version INTEGER,
    state          TEXT NOT NULL CHECK (state IN ('running', 'completed', 'failed', 'deleted')),
    error          TEXT,
    created_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    completed_at   TEXT
);
CREATE INDEX backups_tenant ON backups (tenant_id, created_at);

CREATE TABLE operations (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    -- No foreign key: an operation outlives the tenant row it rolled back or deleted.
    tenant_id   TEXT,
    step        TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('running', 'succeeded', 'failed', 'rolled_back')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    params      TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at TEXT
);
CREATE INDEX operations_unfinished ON operations (state) WHERE state = 'running';
CREATE INDEX operations_tenant ON operations (tenant_id, created_at);
