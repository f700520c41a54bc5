-- Tenant backups become usable: what kind a backup is, which engine wrote it, the vault key and
-- archive format it was sealed with, the operation that took it and, for the final backup of a
-- deleted tenant, until when that tenant can be recovered. `path` holds the archive's location
-- URL (`s3://bucket/prefix/<tenant>/<id>.tbk`, `file:///dir/...`).
ALTER TABLE backups
    ADD COLUMN kind TEXT NOT NULL DEFAULT 'manual'
        CHECK (kind IN ('manual', 'scheduled', 'final', 'pre_restore')),
    ADD COLUMN engine TEXT CHECK (engine IN ('postgres', 'sqlite')),
    ADD COLUMN key_id TEXT,
    ADD COLUMN format_version INTEGER,
    ADD COLUMN expires_at TIMESTAMPTZ,
    -- No foreign key: the backup outlives the operation row that took it.
    ADD COLUMN operation_id UUID;
-- A tenant's latest completed backup, and the scheduler's "running or recent" check.
CREATE INDEX backups_tenant_state ON backups (tenant_id, state, created_at);
-- Backups left running by a process that died.
CREATE INDEX backups_running ON backups (created_at) WHERE state = 'running';
-- Final backups to purge once their tenant can no longer be recovered.
CREATE INDEX backups_final_expiry ON backups (expires_at) WHERE kind = 'final' AND state = 'completed';

-- Set while a restore or move replaces the tenant's database: its requests answer 503 with
-- Retry-After. NULL = serving.
ALTER TABLE tenants ADD COLUMN fence TEXT CHECK (fence IN ('restore', 'move'));

-- A tenant's database moved (restore, move): caches drop its pooled connections.
ALTER TABLE registry_changes
    DROP CONSTRAINT registry_changes_kind_check,
    ADD CONSTRAINT registry_changes_kind_check
        CHECK (kind IN ('created', 'status', 'deleted', 'domains', 'plan', 'user_credentials', 'database'));
