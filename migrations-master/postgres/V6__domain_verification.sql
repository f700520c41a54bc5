-- Custom domain verification: each claim gets a random challenge its owner publishes as a TXT
-- record (`_tenantry-challenge.<domain>`); the domain routes only once the record was seen.
-- Domains added before this version (or by Tenantry itself, already verified) have none.
ALTER TABLE tenant_domains ADD COLUMN verification_token TEXT;
