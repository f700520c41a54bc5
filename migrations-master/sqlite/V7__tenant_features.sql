-- A tenant's own feature flags (`{"name": true|false}`, JSON text), set by operators; they
-- override the flags of the tenant's plan (`plans.features`).
ALTER TABLE tenants ADD COLUMN features TEXT NOT NULL DEFAULT '{}';
