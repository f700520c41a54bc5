-- The master registry. Secrets are stored sealed by the vault (`tv1.<key id>.<payload>`), never
-- in plaintext; `*_key_id` mirrors the sealing key so `keys rotate` can find what to re-wrap.

CREATE TABLE plans (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    max_connections  INTEGER NOT NULL CHECK (max_connections > 0),
    storage_limit_mb BIGINT NOT NULL CHECK (storage_limit_mb > 0),
    features         JSONB NOT NULL DEFAULT '{}',
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

INSERT INTO plans (id, name, max_connections, storage_limit_mb, features) VALUES
    ('free', 'Free', 2, 512, '{}'),
    ('standard', 'Standard', 5, 5120, '{}'),
    ('premium', 'Premium', 10, 51200, '{}');

CREATE TABLE db_servers (
    id                  UUID PRIMARY KEY,
    name                TEXT NOT NULL UNIQUE,
    dialect             TEXT NOT NULL CHECK (dialect IN ('postgres', 'sqlite')),
    url                 TEXT NOT NULL,
    admin_secret        TEXT,
    admin_secret_key_id TEXT,
    capacity            INTEGER NOT NULL CHECK (capacity > 0),
    state               TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'draining', 'retired')),
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE tenants (
    id               UUID PRIMARY KEY,
    subdomain        TEXT NOT NULL,
    name             TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('provisioning', 'active', 'suspended', 'failed', 'deleted')),
    status_reason    TEXT,
    plan_id          TEXT NOT NULL REFERENCES plans (id),
    db_server_id     UUID REFERENCES db_servers (id),
    db_name          TEXT NOT NULL,
    db_user          TEXT,
    db_secret        TEXT,
    db_secret_key_id TEXT,
    schema_version   INTEGER,
    -- Set when the last migration attempt failed (cleared on success); see `tenants migrate`.
    migration_error  TEXT,
    storage_limit_mb BIGINT,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at       TIMESTAMPTZ
);
-- A subdomain is unique among live tenants; deleted tenants keep a tombstone and free the name.
CREATE UNIQUE INDEX tenants_live_subdomain ON tenants (subdomain) WHERE status <> 'deleted';
CREATE INDEX tenants_status ON tenants (status);
CREATE INDEX tenants_db_server ON tenants (db_server_id);

CREATE TABLE tenant_domains (
    id          UUID PRIMARY KEY,
    tenant_id   UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    domain      TEXT NOT NULL UNIQUE,
    verified_at TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX tenant_domains_tenant ON tenant_domains (tenant_id);

CREATE TABLE admins (
    id            UUID PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('owner', 'operator', 'viewer')),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_login_at TIMESTAMPTZ,
    disabled_at   TIMESTAMPTZ
);

CREATE TABLE api_tokens (
    id           UUID PRIMARY KEY,
    admin_id     UUID NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    role         TEXT NOT NULL CHECK (role IN ('owner', 'operator', 'viewer')),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at TIMESTAMPTZ,
    expires_at   TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);

CREATE TABLE audit_log (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    tenant_id UUID,
    ip        TEXT,
    detail    JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, at);

CREATE TABLE backups (
    id             UUID PRIMARY KEY,
    tenant_id      UUID NOT NULL REFERENCES tenants (id),
    path           TEXT NOT NULL,
    bytes          BIGINT,
    sha256         TEXT,
    schema_version INTEGER,
    state          TEXT NOT NULL CHECK (state IN ('running', 'completed', 'failed', 'deleted')),
    error          TEXT,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    completed_at   TIMESTAMPTZ
);
CREATE INDEX backups_tenant ON backups (tenant_id, created_at);

CREATE TABLE operations (
    id          UUID PRIMARY KEY,
    kind        TEXT NOT NULL,
    -- No foreign key: an operation outlives the tenant row it rolled back or deleted.
    tenant_id   UUID,
    step        TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('running', 'succeeded', 'failed', 'rolled_back')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    params      JSONB NOT NULL DEFAULT '{}',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at TIMESTAMPTZ
);
CREATE INDEX operations_unfinished ON operations (state) WHERE state = 'running';
CREATE INDEX operations_tenant ON operations (tenant_id, created_at);

-- Tenant roles may live on the same server as the master: only explicitly granted roles may
-- connect to it. (A no-op warning if the migrating role does not own the database.)
DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO CURRENT_USER', current_database());
    EXECUTE format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
END
$$;
