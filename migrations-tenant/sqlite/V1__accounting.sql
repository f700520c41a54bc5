-- The reference accounting app (SQLite dialect). Keep in step with postgres/V1__accounting.sql:
-- same tables, columns and constraint names (plus `*_date_valid`, which PostgreSQL's DATE type
-- makes unnecessary there), so the app maps a violated constraint to one error on both.
--
-- STRICT tables, so an INTEGER column really holds integers: amounts are minor units (cents),
-- never floating point, and SQLite's type affinity would otherwise store 1.5 or 'abc'. Dates
-- are TEXT `YYYY-MM-DD` (checked, so they compare correctly as strings), timestamps TEXT
-- RFC 3339 in UTC. Foreign keys are enforced because sqlx turns `foreign_keys` on for every
-- connection.
--
-- Whether a voucher's lines balance (sum(debit) = sum(credit) > 0) is checked by the app in
-- the posting transaction: SQLite has no deferred triggers to check it at commit.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Stored lowercased, so lookups are plain equality.
    email         TEXT NOT NULL,
    name          TEXT NOT NULL,
    -- An argon2id PHC string (`$argon2id$v=19$m=...`); GLOB because SQLite's LIKE ignores case.
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    disabled_at   TEXT,
    CONSTRAINT users_email_unique UNIQUE (email),
    CONSTRAINT users_email_lowercase CHECK (email = lower(email) AND email LIKE '_%@_%'),
    CONSTRAINT users_password_argon2id CHECK (password_hash GLOB '$argon2id$*'),
    CONSTRAINT users_role_valid CHECK (role IN ('admin', 'accountant', 'viewer'))
) STRICT;

-- The chart of accounts.
CREATE TABLE ledgers (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    code       TEXT NOT NULL,
    name       TEXT NOT NULL,
    type       TEXT NOT NULL,
    parent_id  INTEGER REFERENCES ledgers (id),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    CONSTRAINT ledgers_code_unique UNIQUE (code),
    CONSTRAINT ledgers_code_not_empty CHECK (code <> ''),
    CONSTRAINT ledgers_name_not_empty CHECK (name <> ''),
    CONSTRAINT ledgers_type_valid CHECK (type IN ('asset', 'liability', 'equity', 'income', 'expense')),
    CONSTRAINT ledgers_not_own_parent CHECK (parent_id <> id)
) STRICT;
CREATE INDEX ledgers_parent_id ON ledgers (parent_id);

-- Journal entries. Users are disabled rather than deleted, so a voucher's author stays known:
-- deleting a user who created vouchers is refused.
CREATE TABLE vouchers (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    number     TEXT NOT NULL,
    date       TEXT NOT NULL,
    narration  TEXT NOT NULL DEFAULT '',
    posted_at  TEXT,
    created_by INTEGER REFERENCES users (id),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    CONSTRAINT vouchers_number_unique UNIQUE (number),
    CONSTRAINT vouchers_number_not_empty CHECK (number <> ''),
    -- date() normalises or rejects anything but a real calendar day, as PostgreSQL's DATE does.
    CONSTRAINT vouchers_date_valid CHECK (date IS date(date))
) STRICT;
CREATE INDEX vouchers_created_by ON vouchers (created_by);

-- A ledger with postings cannot be deleted (no cascade from ledgers).
CREATE TABLE voucher_lines (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    voucher_id INTEGER NOT NULL REFERENCES vouchers (id) ON DELETE CASCADE,
    ledger_id  INTEGER NOT NULL REFERENCES ledgers (id),
    debit      INTEGER NOT NULL DEFAULT 0,
    credit     INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT voucher_lines_not_negative CHECK (debit >= 0 AND credit >= 0),
    CONSTRAINT voucher_lines_one_side CHECK ((debit > 0 AND credit = 0) OR (credit > 0 AND debit = 0))
) STRICT;
CREATE INDEX voucher_lines_voucher_id ON voucher_lines (voucher_id);
CREATE INDEX voucher_lines_ledger_id ON voucher_lines (ledger_id);

CREATE TABLE invoices (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    number        TEXT NOT NULL,
    customer_name TEXT NOT NULL,
    date          TEXT NOT NULL,
    due_date      TEXT NOT NULL,
    -- Sum of quantity * unit_price over the lines, kept by the app.
    total         INTEGER NOT NULL,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    CONSTRAINT invoices_number_unique UNIQUE (number),
    CONSTRAINT invoices_number_not_empty CHECK (number <> ''),
    CONSTRAINT invoices_date_valid CHECK (date IS date(date) AND due_date IS date(due_date)),
    CONSTRAINT invoices_due_after_date CHECK (due_date >= date),
    CONSTRAINT invoices_total_not_negative CHECK (total >= 0)
) STRICT;

CREATE TABLE invoice_lines (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    invoice_id  INTEGER NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    description TEXT NOT NULL,
    quantity    INTEGER NOT NULL,
    unit_price  INTEGER NOT NULL,
    CONSTRAINT invoice_lines_quantity_positive CHECK (quantity > 0),
    CONSTRAINT invoice_lines_unit_price_not_negative CHECK (unit_price >= 0)
) STRICT;
CREATE INDEX invoice_lines_invoice_id ON invoice_lines (invoice_id);
