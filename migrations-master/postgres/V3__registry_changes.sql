-- The registry change feed: every mutation a Host lookup, a tenant's pool or routing would see
-- appends one row in its own transaction, and `serve` processes poll `id > last seen`. Ids are
-- assigned and committed in order (the writer holds an advisory lock), so a poller never misses
-- a row that commits late. No foreign key: a change outlives the tenant row it describes.
CREATE TABLE registry_changes (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id  UUID NOT NULL,
    -- The tenant user whose credentials, role or status changed (`user_credentials` only).
    user_id    BIGINT,
    kind       TEXT NOT NULL CHECK (kind IN ('created', 'status', 'deleted', 'domains', 'plan', 'user_credentials')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX registry_changes_created_at ON registry_changes (created_at);

-- The highest id pruned so far (one row). A poller whose last seen id is below it has missed
-- changes and must reload everything; holes left by rolled-back ids cannot fake that.
CREATE TABLE registry_change_floor (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    pruned_through BIGINT NOT NULL
);
INSERT INTO registry_change_floor (id, pruned_through) VALUES (1, 0);
