//! Fixtures shared by the integration tests.
// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use tenantry_app::{MIGRATIONS, TenantAdmin};
use tenantry_test_utils::{Dialect, TestDb};

/// A well-formed argon2id PHC string (the schema checks the prefix, not the hash).
pub const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";

/// Mixed case on purpose: the seed stores it lowercased.
pub const ADMIN: TenantAdmin<'static> = TenantAdmin {
    email: "Ada@Example.com",
    name: "Ada Lovelace",
    password_hash: HASH,
};

/// A fresh database of `dialect` with the tenant schema applied.
pub async fn migrated(dialect: Dialect) -> (TestDb, DatabaseConnection) {
    let db = TestDb::new(dialect).await;
    let conn = db.connect().await;
    tenantry_migrate::migrate(&conn, &MIGRATIONS)
        .await
        .unwrap_or_else(|e| panic!("migrating {dialect:?}: {e:?}"));
    (db, conn)
}

/// A fresh database of `dialect`, migrated and seeded with [`ADMIN`].
pub async fn seeded(dialect: Dialect) -> (TestDb, DatabaseConnection) {
    let (db, conn) = migrated(dialect).await;
    tenantry_app::seed(&conn, &ADMIN)
        .await
        .unwrap_or_else(|e| panic!("seeding {dialect:?}: {e:?}"));
    (db, conn)
}

/// Runs `sql` (no bind parameters) and returns its rows' first column as i64.
pub async fn count(conn: &DatabaseConnection, sql: &str) -> i64 {
    let row = conn
        .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap_or_else(|| panic!("{sql}: no row"));
    row.try_get_by_index::<i64>(0).unwrap()
}

/// Runs `sql` and returns each row's columns as strings (NULL as "NULL").
pub async fn rows(conn: &DatabaseConnection, sql: &str, width: usize) -> Vec<Vec<String>> {
    let rows = conn
        .query_all_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.iter()
        .map(|row| {
            (0..width)
                .map(|i| {
                    row.try_get_by_index::<Option<String>>(i)
                        .unwrap_or_else(|e| panic!("{sql}: column {i}: {e}"))
                        .unwrap_or_else(|| "NULL".to_owned())
                })
                .collect()
        })
        .collect()
}

pub fn backend(dialect: Dialect) -> DbBackend {
    match dialect {
        Dialect::Postgres => DbBackend::Postgres,
        Dialect::Sqlite => DbBackend::Sqlite,
    }
}

/// One `#[tokio::test]` per dialect for each `async fn scenario(Dialect)` named, as
/// `postgres::scenario` and `sqlite::scenario`.
#[allow(unused_macros)]
macro_rules! both_dialects {
    ($($scenario:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(tenantry_test_utils::Dialect::Postgres).await
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(tenantry_test_utils::Dialect::Sqlite).await
                }
            )*
        }
    };
}
