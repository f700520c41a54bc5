-- A tenant's own feature flags (`{"name": true|false}`), set by operators; they override the
-- flags of the tenant's plan (`plans.features`).
ALTER TABLE tenants ADD COLUMN features JSONB NOT NULL DEFAULT '{}';
