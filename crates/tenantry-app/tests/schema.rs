//! The tenant schema is the same on both dialects.

#[macro_use]
mod common;

use common::{migrated, rows};
use tenantry_app::MIGRATIONS;
use tenantry_test_utils::Dialect;

const TABLES: [&str; 6] = [
    "invoice_lines",
    "invoices",
    "ledgers",
    "users",
    "voucher_lines",
    "vouchers",
];

#[test]
fn both_dialects_have_the_same_versions() {
    let postgres = MIGRATIONS
        .versions(tenantry_migrate::Dialect::Postgres)
        .unwrap();
    let sqlite = MIGRATIONS
        .versions(tenantry_migrate::Dialect::Sqlite)
        .unwrap();
    assert_eq!(postgres, sqlite);
    assert_eq!(postgres.first(), Some(&1));
}

/// (table, column, nullable), ordered by table then column position; our tables only.
async fn columns(dialect: Dialect) -> Vec<Vec<String>> {
    let (_db, conn) = migrated(dialect).await;
    let sql = match dialect {
        Dialect::Postgres => {
            "SELECT table_name::text, column_name::text, is_nullable::text \
             FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name <> 'refinery_schema_history' \
             ORDER BY table_name, ordinal_position"
        }
        // An INTEGER PRIMARY KEY is a rowid alias: never NULL, though not declared NOT NULL.
        Dialect::Sqlite => {
            "SELECT m.name, p.name, CASE WHEN p.\"notnull\" = 0 AND p.pk = 0 THEN 'YES' ELSE 'NO' END \
             FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
               AND m.name <> 'refinery_schema_history' \
             ORDER BY m.name, p.cid"
        }
    };
    rows(&conn, sql, 3).await
}

#[tokio::test]
async fn both_dialects_have_the_same_tables_and_columns() {
    let postgres = columns(Dialect::Postgres).await;
    let sqlite = columns(Dialect::Sqlite).await;
    assert_eq!(postgres, sqlite);

    let mut tables: Vec<&str> = postgres.iter().map(|c| c[0].as_str()).collect();
    tables.dedup();
    assert_eq!(tables, TABLES);
    let voucher_lines: Vec<&str> = postgres
        .iter()
        .filter(|c| c[0] == "voucher_lines")
        .map(|c| c[1].as_str())
        .collect();
    assert_eq!(
        voucher_lines,
        ["id", "voucher_id", "ledger_id", "debit", "credit"]
    );
}

/// (table, column, referenced table, on delete), sorted.
async fn foreign_keys(dialect: Dialect) -> Vec<Vec<String>> {
    let (_db, conn) = migrated(dialect).await;
    let sql = match dialect {
        Dialect::Postgres => {
            "SELECT t.relname::text, a.attname::text, r.relname::text, \
                    CASE c.confdeltype WHEN 'a' THEN 'NO ACTION' WHEN 'c' THEN 'CASCADE' \
                         ELSE c.confdeltype::text END \
             FROM pg_constraint c \
             JOIN pg_class t ON t.oid = c.conrelid \
             JOIN pg_class r ON r.oid = c.confrelid \
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] \
             WHERE c.contype = 'f' AND t.relnamespace = 'public'::regnamespace \
             ORDER BY 1, 2"
        }
        Dialect::Sqlite => {
            "SELECT m.name, f.\"from\", f.\"table\", f.on_delete \
             FROM sqlite_master m, pragma_foreign_key_list(m.name) f \
             WHERE m.type = 'table' ORDER BY 1, 2"
        }
    };
    rows(&conn, sql, 4).await
}

/// Indexes created by the migrations (not those backing primary keys or UNIQUE), sorted.
async fn indexes(dialect: Dialect) -> Vec<String> {
    let (_db, conn) = migrated(dialect).await;
    let sql = match dialect {
        Dialect::Postgres => {
            "SELECT i.relname::text FROM pg_index x \
             JOIN pg_class i ON i.oid = x.indexrelid \
             WHERE i.relnamespace = 'public'::regnamespace \
               AND NOT x.indisprimary AND NOT x.indisunique \
             ORDER BY 1"
        }
        Dialect::Sqlite => {
            "SELECT name FROM sqlite_master \
             WHERE type = 'index' AND sql IS NOT NULL ORDER BY 1"
        }
    };
    rows(&conn, sql, 1).await.into_iter().flatten().collect()
}

#[tokio::test]
async fn both_dialects_have_the_same_foreign_keys_each_with_an_index() {
    let postgres = foreign_keys(Dialect::Postgres).await;
    assert_eq!(postgres, foreign_keys(Dialect::Sqlite).await);
    let expected = [
        ["invoice_lines", "invoice_id", "invoices", "CASCADE"],
        ["ledgers", "parent_id", "ledgers", "NO ACTION"],
        ["voucher_lines", "ledger_id", "ledgers", "NO ACTION"],
        ["voucher_lines", "voucher_id", "vouchers", "CASCADE"],
        ["vouchers", "created_by", "users", "NO ACTION"],
    ];
    assert_eq!(postgres, expected);

    let index_names = indexes(Dialect::Postgres).await;
    assert_eq!(index_names, indexes(Dialect::Sqlite).await);
    for [table, column, ..] in expected {
        let name = format!("{table}_{column}");
        assert!(index_names.contains(&name), "no index {name} on the FK");
    }
}

async fn migrating_twice_applies_nothing(dialect: Dialect) {
    let (_db, conn) = migrated(dialect).await;
    let again = tenantry_migrate::migrate(&conn, &MIGRATIONS).await.unwrap();
    assert!(again.applied.is_empty(), "{again:?}");
    let latest = MIGRATIONS
        .latest_version(match dialect {
            Dialect::Postgres => tenantry_migrate::Dialect::Postgres,
            Dialect::Sqlite => tenantry_migrate::Dialect::Sqlite,
        })
        .unwrap();
    assert_eq!(again.current_version, latest);
}

both_dialects!(migrating_twice_applies_nothing);
