-- Storage quotas (SQLite dialect): a tenant database's size as last measured, when, and where
-- that puts it against its limit (the tenant's own, else its plan's): `ok`, `warning` (at 80 %)
-- or `exceeded` (at 100 %: the tenant API refuses writes, reads go on).
ALTER TABLE tenants ADD COLUMN storage_used_bytes INTEGER CHECK (storage_used_bytes >= 0);
ALTER TABLE tenants ADD COLUMN storage_measured_at TEXT;
ALTER TABLE tenants ADD COLUMN storage_level TEXT NOT NULL DEFAULT 'ok'
    CHECK (storage_level IN ('ok', 'warning', 'exceeded'));
-- Tenants whose size is due for a measurement, stalest first.
CREATE INDEX tenants_storage_measured_at ON tenants (storage_measured_at) WHERE status <> 'deleted';

-- A tenant crossed its storage limit, either way: directories reload its entry (its pooled
-- connections stay). SQLite cannot alter a CHECK: the change feed is rebuilt as in V8, keeping
-- its ids and its AUTOINCREMENT high-water mark.
CREATE TABLE registry_changes_v9 (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id  TEXT NOT NULL,
    -- The tenant user whose credentials, role or status changed (`user_credentials` only).
    user_id    INTEGER,
    kind       TEXT NOT NULL CHECK (kind IN ('created', 'status', 'deleted', 'domains', 'plan', 'user_credentials', 'database', 'storage')),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
INSERT INTO registry_changes_v9 (id, tenant_id, user_id, kind, created_at)
    SELECT id, tenant_id, user_id, kind, created_at FROM registry_changes;
DELETE FROM sqlite_sequence WHERE name = 'registry_changes_v9';
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'registry_changes_v9', seq FROM sqlite_sequence WHERE name = 'registry_changes';
DROP TABLE registry_changes;
ALTER TABLE registry_changes_v9 RENAME TO registry_changes;
CREATE INDEX registry_changes_created_at ON registry_changes (created_at);
