-- Warm spares (SQLite dialect): PostgreSQL databases created and migrated ahead of demand, each
-- owned by its own role, claimed by `tenants create` (renamed to the tenant's names, given a new
-- password, seeded). No secret: a spare's role password is forgotten once it is built, and set
-- anew on a claim. `building` until migrated; `ready` at `schema_version`; `claimed` by tenant
-- `claimed_by` until that creation ends (reconcile drops a claimed spare whose creation never
-- began).
CREATE TABLE spares (
    id             TEXT PRIMARY KEY,
    server_id      TEXT NOT NULL REFERENCES db_servers (id),
    db_name        TEXT NOT NULL UNIQUE,
    db_user        TEXT NOT NULL UNIQUE,
    state          TEXT NOT NULL CHECK (state IN ('building', 'ready', 'claimed')),
    schema_version INTEGER,
    claimed_by     TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
-- A server's ready spares, oldest first.
CREATE INDEX spares_server_state ON spares (server_id, state, created_at);
