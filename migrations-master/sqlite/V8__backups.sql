-- Tenant backups become usable (SQLite dialect): what kind a backup is, which engine wrote it,
-- the vault key and archive format it was sealed with, the operation that took it and, for the
-- final backup of a deleted tenant, until when that tenant can be recovered. `path` holds the
-- archive's location URL (`s3://bucket/prefix/<tenant>/<id>.tbk`, `file:///dir/...`).
ALTER TABLE backups ADD COLUMN kind TEXT NOT NULL DEFAULT 'manual'
    CHECK (kind IN ('manual', 'scheduled', 'final', 'pre_restore'));
ALTER TABLE backups ADD COLUMN engine TEXT CHECK (engine IN ('postgres', 'sqlite'));
ALTER TABLE backups ADD COLUMN key_id TEXT;
ALTER TABLE backups ADD COLUMN format_version INTEGER;
ALTER TABLE backups ADD COLUMN expires_at TEXT;
-- No foreign key: the backup outlives the operation row that took it.
ALTER TABLE backups ADD COLUMN operation_id TEXT;
-- A tenant's latest completed backup, and the scheduler's "running or recent" check.
CREATE INDEX backups_tenant_state ON backups (tenant_id, state, created_at);
-- Backups left running by a process that died.
CREATE INDEX backups_running ON backups (created_at) WHERE state = 'running';
-- Final backups to purge once their tenant can no longer be recovered.
CREATE INDEX backups_final_expiry ON backups (expires_at) WHERE kind = 'final' AND state = 'completed';

-- Set while a restore or move replaces the tenant's database: its requests answer 503 with
-- Retry-After. NULL = serving.
ALTER TABLE tenants ADD COLUMN fence TEXT CHECK (fence IN ('restore', 'move'));

-- A tenant's database moved (restore, move): caches drop its pooled connections. SQLite cannot
-- alter a CHECK, so the change feed is rebuilt with the new kind, keeping its ids and its
-- AUTOINCREMENT high-water mark (a pruned id must never be handed out again).
CREATE TABLE registry_changes_v8 (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id  TEXT NOT NULL,
    -- The tenant user whose credentials, role or status changed (`user_credentials` only).
    user_id    INTEGER,
    kind       TEXT NOT NULL CHECK (kind IN ('created', 'status', 'deleted', 'domains', 'plan', 'user_credentials', 'database')),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
INSERT INTO registry_changes_v8 (id, tenant_id, user_id, kind, created_at)
    SELECT id, tenant_id, user_id, kind, created_at FROM registry_changes;
DELETE FROM sqlite_sequence WHERE name = 'registry_changes_v8';
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'registry_changes_v8', seq FROM sqlite_sequence WHERE name = 'registry_changes';
DROP TABLE registry_changes;
ALTER TABLE registry_changes_v8 RENAME TO registry_changes;
CREATE INDEX registry_changes_created_at ON registry_changes (created_at);
