-- A user's sessions end when their credentials change: every token carries the version it was
-- issued under, and a password reset, role change or disabling bumps it.
ALTER TABLE users ADD COLUMN session_version BIGINT NOT NULL DEFAULT 0;
