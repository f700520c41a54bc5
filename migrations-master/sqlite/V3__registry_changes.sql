-- The registry change feed: every mutation a Host lookup, a tenant's pool or routing would see
-- appends one row in its own transaction, and `serve` processes poll `id > last seen`. SQLite
-- serialises writers, so ids commit in order; AUTOINCREMENT never reuses a pruned id. No foreign
-- key: a change outlives the tenant row it describes.
CREATE TABLE registry_changes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id  TEXT NOT NULL,
    -- The tenant user whose credentials, role or status changed (`user_credentials` only).
    user_id    INTEGER,
    kind       TEXT NOT NULL CHECK (kind IN ('created', 'status', 'deleted', 'domains', 'plan', 'user_credentials')),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX registry_changes_created_at ON registry_changes (created_at);

-- The highest id pruned so far (one row). A poller whose last seen id is below it has missed
-- changes and must reload everything; holes left by rolled-back ids cannot fake that.
CREATE TABLE registry_change_floor (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    pruned_through INTEGER NOT NULL
);
INSERT INTO registry_change_floor (id, pruned_through) VALUES (1, 0);
