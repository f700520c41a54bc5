-- Queries of the admin API: tenants listed page by page (keyset over creation time, then id),
-- operations that report their progress and who started them, the audit trail by time.

CREATE INDEX tenants_created_at_id ON tenants (created_at, id);

-- Progress of a long operation (`done` of `total` units, e.g. tenants migrated by a fleet run);
-- NULL while it reports none.
ALTER TABLE operations ADD COLUMN progress_done INTEGER;
ALTER TABLE operations ADD COLUMN progress_total INTEGER;
-- Who started it, as in `audit_log.actor` (`cli:<user>`, `admin:<email>`, `token:<name>`,
-- `system`); NULL for operations started before this migration.
ALTER TABLE operations ADD COLUMN actor TEXT;

CREATE INDEX audit_log_at ON audit_log (at);
