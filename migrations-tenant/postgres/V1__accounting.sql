-- The reference accounting app (PostgreSQL dialect). Keep in step with sqlite/V1__accounting.sql:
-- same tables, columns and constraint names (SQLite adds `*_date_valid` checks that a DATE column
-- makes unnecessary here), so the app maps a violated constraint to one error on both.
--
-- Runs as the tenant's own role (owner of the database, no superuser rights) inside one
-- transaction: no extensions, no BEGIN/COMMIT, nothing that needs more than ownership.
--
-- Amounts are BIGINT minor units (cents), never floating point. Whether a voucher's lines
-- balance (sum(debit) = sum(credit) > 0) is checked by the app in the posting transaction:
-- SQLite has no deferred triggers, and a check only one dialect enforces would make the two
-- behave differently.

CREATE TABLE users (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Stored lowercased, so lookups are plain equality.
    email         TEXT NOT NULL,
    name          TEXT NOT NULL,
    -- An argon2id PHC string (`$argon2id$v=19$m=...`).
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    disabled_at   TIMESTAMPTZ,
    CONSTRAINT users_email_unique UNIQUE (email),
    CONSTRAINT users_email_lowercase CHECK (email = lower(email) AND email LIKE '_%@_%'),
    CONSTRAINT users_password_argon2id CHECK (password_hash LIKE '$argon2id$%'),
    CONSTRAINT users_role_valid CHECK (role IN ('admin', 'accountant', 'viewer'))
);

-- The chart of accounts.
CREATE TABLE ledgers (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code       TEXT NOT NULL,
    name       TEXT NOT NULL,
    type       TEXT NOT NULL,
    parent_id  BIGINT REFERENCES ledgers (id),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT ledgers_code_unique UNIQUE (code),
    CONSTRAINT ledgers_code_not_empty CHECK (code <> ''),
    CONSTRAINT ledgers_name_not_empty CHECK (name <> ''),
    CONSTRAINT ledgers_type_valid CHECK (type IN ('asset', 'liability', 'equity', 'income', 'expense')),
    CONSTRAINT ledgers_not_own_parent CHECK (parent_id <> id)
);
CREATE INDEX ledgers_parent_id ON ledgers (parent_id);

-- Journal entries. Users are disabled rather than deleted, so a voucher's author stays known:
-- deleting a user who created vouchers is refused.
CREATE TABLE vouchers (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    number     TEXT NOT NULL,
    date       DATE NOT NULL,
    narration  TEXT NOT NULL DEFAULT '',
    posted_at  TIMESTAMPTZ,
    created_by BIGINT REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT vouchers_number_unique UNIQUE (number),
    CONSTRAINT vouchers_number_not_empty CHECK (number <> '')
);
CREATE INDEX vouchers_created_by ON vouchers (created_by);

-- A ledger with postings cannot be deleted (no cascade from ledgers).
CREATE TABLE voucher_lines (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    voucher_id BIGINT NOT NULL REFERENCES vouchers (id) ON DELETE CASCADE,
    ledger_id  BIGINT NOT NULL REFERENCES ledgers (id),
    debit      BIGINT NOT NULL DEFAULT 0,
    credit     BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT voucher_lines_not_negative CHECK (debit >= 0 AND credit >= 0),
    CONSTRAINT voucher_lines_one_side CHECK ((debit > 0 AND credit = 0) OR (credit > 0 AND debit = 0))
);
CREATE INDEX voucher_lines_voucher_id ON voucher_lines (voucher_id);
CREATE INDEX voucher_lines_ledger_id ON voucher_lines (ledger_id);

CREATE TABLE invoices (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    number        TEXT NOT NULL,
    customer_name TEXT NOT NULL,
    date          DATE NOT NULL,
    due_date      DATE NOT NULL,
    -- Sum of quantity * unit_price over the lines, kept by the app.
    total         BIGINT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT invoices_number_unique UNIQUE (number),
    CONSTRAINT invoices_number_not_empty CHECK (number <> ''),
    CONSTRAINT invoices_due_after_date CHECK (due_date >= date),
    CONSTRAINT invoices_total_not_negative CHECK (total >= 0)
);

CREATE TABLE invoice_lines (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    invoice_id  BIGINT NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    description TEXT NOT NULL,
    quantity    BIGINT NOT NULL,
    unit_price  BIGINT NOT NULL,
    CONSTRAINT invoice_lines_quantity_positive CHECK (quantity > 0),
    CONSTRAINT invoice_lines_unit_price_not_negative CHECK (unit_price >= 0)
);
CREATE INDEX invoice_lines_invoice_id ON invoice_lines (invoice_id);
