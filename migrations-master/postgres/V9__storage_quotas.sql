-- Storage quotas: a tenant database's size as last measured, when, and where that puts it
-- against its limit (the tenant's own, else its plan's): `ok`, `warning` (at 80 %) or `exceeded`
-- (at 100 %: the tenant API refuses writes, reads go on).
ALTER TABLE tenants
    ADD COLUMN storage_used_bytes BIGINT CHECK (storage_used_bytes >= 0),
    ADD COLUMN storage_measured_at TIMESTAMPTZ,
    ADD COLUMN storage_level TEXT NOT NULL DEFAULT 'ok'
        CHECK (storage_level IN ('ok', 'warning', 'exceeded'));
-- Tenants whose size is due for a measurement, stalest first.
CREATE INDEX tenants_storage_measured_at ON tenants (storage_measured_at) WHERE status <> 'deleted';

-- A tenant crossed its storage limit, either way: directories reload its entry (its pooled
-- connections stay).
ALTER TABLE registry_changes
    DROP CONSTRAINT registry_changes_kind_check,
    ADD CONSTRAINT registry_changes_kind_check
        CHECK (kind IN ('created', 'status', 'deleted', 'domains', 'plan', 'user_credentials', 'database', 'storage'));
