//! Tenant data for backup tests: rows to write, changes to make, and a fingerprint of every
//! table (row count and every row's text) to compare a restored database with.

#![allow(dead_code)] // each test file uses part of this

use std::collections::BTreeMap;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use tenantry_provision::Provisioner;
use tenantry_registry::Tenant;

/// Per table: (rows, every row as text, sorted and joined).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(pub BTreeMap<String, (i64, String)>);

impl Fingerprint {
    pub fn rows(&self, table: &str) -> i64 {
        self.0.get(table).map_or(0, |(n, _)| *n)
    }
}

async fn run(conn: &DatabaseConnection, sql: String) {
    conn.execute_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .unwrap();
}

async fn strings(conn: &DatabaseConnection, sql: String) -> Vec<String> {
    conn.query_all_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get_by_index::<String>(0).unwrap())
        .collect()
}

/// Ledgers `T<i>` for each `i` in `range`.
pub async fn insert_ledgers(p: &Provisioner, tenant: &Tenant, range: std::ops::Range<u32>) {
    let conn = p.connect_tenant(tenant).await.unwrap();
    for i in range {
        run(
            &conn,
            format!(
                "INSERT INTO ledgers (code, name, type) VALUES ('T{i}', 'Ledger {i}', 'asset')"
            ),
        )
        .await;
    }
    conn.close().await.unwrap();
}

/// Inserts, updates and deletes: afterwards the fingerprint differs.
pub async fn scribble(p: &Provisioner, tenant: &Tenant) {
    let conn = p.connect_tenant(tenant).await.unwrap();
    for i in 0..5 {
        run(
            &conn,
            format!(
                "INSERT INTO ledgers (code, name, type) VALUES ('S{i}', 'Scribble', 'expense')"
            ),
        )
        .await;
    }
    run(
        &conn,
        "UPDATE ledgers SET name = 'Renamed' WHERE code = 'T1'".into(),
    )
    .await;
    run(
        &conn,
        "DELETE FROM ledgers WHERE code IN ('T2', 'T3')".into(),
    )
    .await;
    conn.close().await.unwrap();
}

pub async fn fingerprint(conn: &DatabaseConnection) -> Fingerprint {
    let postgres = conn.get_database_backend() == DbBackend::Postgres;
    let tables = if postgres {
        strings(
            conn,
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1".into(),
        )
        .await
    } else {
        strings(conn, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY 1".into()).await
    };
    let mut print = BTreeMap::new();
    for table in tables {
        let sql = if postgres {
            format!(
                r#"SELECT count(*)::bigint, coalesce(string_agg(t::text, '|' ORDER BY t::text), '') FROM "{table}" t"#
            )
        } else {
            let columns = strings(
                conn,
                format!("SELECT name FROM pragma_table_info('{table}')"),
            )
            .await;
            let row: Vec<String> = columns.iter().map(|c| format!(r#"quote("{c}")"#)).collect();
            format!(
                r#"SELECT count(*), coalesce(group_concat(r, '|'), '') FROM (SELECT {} AS r FROM "{table}" ORDER BY r)"#,
                row.join(" || ',' || ")
            )
        };
        let found = conn
            .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
            .await
            .unwrap()
            .unwrap();
        let rows: i64 = found.try_get_by_index(0).unwrap();
        let text: String = found.try_get_by_index(1).unwrap();
        print.insert(table, (rows, text));
    }
    Fingerprint(print)
}
