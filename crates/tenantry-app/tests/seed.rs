//! Seeding: the default chart and the tenant admin, once, in one transaction.

#[macro_use]
mod common;

use std::collections::HashMap;

use common::{ADMIN, HASH, count, migrated};
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, QueryOrder};
use tenantry_app::entity::{ledger, user};
use tenantry_app::{DEFAULT_CHART, SeedError, SeedReport, UserRole, seed};
use tenantry_test_utils::{Dialect, TestDb};

async fn ledgers(conn: &DatabaseConnection) -> Vec<ledger::Model> {
    ledger::Entity::find()
        .order_by_asc(ledger::Column::Id)
        .all(conn)
        .await
        .unwrap()
}

async fn users(conn: &DatabaseConnection) -> Vec<user::Model> {
    user::Entity::find()
        .order_by_asc(user::Column::Id)
        .all(conn)
        .await
        .unwrap()
}

/// Every ledger of the chart with its name, type and parent *code*.
fn assert_chart(ledgers: &[ledger::Model]) {
    let code_of: HashMap<i64, &str> = ledgers.iter().map(|l| (l.id, l.code.as_str())).collect();
    let by_code: HashMap<&str, &ledger::Model> =
        ledgers.iter().map(|l| (l.code.as_str(), l)).collect();
    for &(code, name, ledger_type, parent) in DEFAULT_CHART {
        let ledger = by_code
            .get(code)
            .unwrap_or_else(|| panic!("{code} missing"));
        assert_eq!(ledger.name, name);
        assert_eq!(ledger.ledger_type, ledger_type, "{code}");
        assert_eq!(ledger.parent_id.map(|id| code_of[&id]), parent, "{code}");
    }
}

async fn seed_creates_the_chart_and_the_admin(dialect: Dialect) {
    let (_db, conn) = migrated(dialect).await;
    let report = seed(&conn, &ADMIN).await.unwrap();
    assert_eq!(
        report,
        SeedReport {
            ledgers_created: DEFAULT_CHART.len(),
            admin_created: true,
        }
    );

    let ledgers = ledgers(&conn).await;
    assert_eq!(ledgers.len(), DEFAULT_CHART.len());
    assert_chart(&ledgers);
    let cash = ledgers.iter().find(|l| l.code == "1100").unwrap();
    let assets = ledgers.iter().find(|l| l.code == "1000").unwrap();
    assert_eq!(cash.parent_id, Some(assets.id));

    let users = users(&conn).await;
    assert_eq!(users.len(), 1);
    let admin = &users[0];
    assert_eq!(admin.email, "ada@example.com");
    assert_eq!(admin.name, ADMIN.name);
    assert_eq!(admin.password_hash, HASH);
    assert_eq!(admin.role, UserRole::Admin);
    assert_eq!(admin.disabled_at, None);
    let age = chrono::Utc::now() - admin.created_at;
    assert!(
        age.num_seconds().abs() < 60,
        "created_at {}",
        admin.created_at
    );
}

async fn seeding_twice_changes_nothing(dialect: Dialect) {
    let (_db, conn) = migrated(dialect).await;
    seed(&conn, &ADMIN).await.unwrap();
    let (ledgers_before, users_before) = (ledgers(&conn).await, users(&conn).await);

    // Same admin with another case and hash: still the same user, left as it was.
    let again = tenantry_app::TenantAdmin {
        email: "ADA@example.COM",
        name: "Someone Else",
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$b3RoZXJzYWx0$b3RoZXJoYXNo",
    };
    let report = seed(&conn, &again).await.unwrap();
    assert_eq!(
        report,
        SeedReport {
            ledgers_created: 0,
            admin_created: false,
        }
    );
    assert_eq!(ledgers(&conn).await, ledgers_before);
    assert_eq!(users(&conn).await, users_before);
}

/// A crash after part of the chart was written (or an operator's own ledger with a chart code)
/// is completed, with children attached to the ledger already there.
async fn seed_completes_a_partial_chart(dialect: Dialect) {
    let (_db, conn) = migrated(dialect).await;
    conn.execute_unprepared(
        "INSERT INTO ledgers (code, name, type) VALUES ('1000', 'Our Assets', 'asset')",
    )
    .await
    .unwrap();
    let report = seed(&conn, &ADMIN).await.unwrap();
    assert_eq!(report.ledgers_created, DEFAULT_CHART.len() - 1);
    let ledgers = ledgers(&conn).await;
    let assets = ledgers.iter().find(|l| l.code == "1000").unwrap();
    assert_eq!(assets.name, "Our Assets");
    let bank = ledgers.iter().find(|l| l.code == "1200").unwrap();
    assert_eq!(bank.parent_id, Some(assets.id));
}

/// A failure after the chart was inserted leaves no ledger behind: one transaction.
async fn failed_seed_leaves_nothing(dialect: Dialect) {
    let (_db, conn) = migrated(dialect).await;
    let refuse_users = match dialect {
        Dialect::Postgres => {
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
                 $$BEGIN RAISE EXCEPTION 'refused by test'; END$$; \
             CREATE TRIGGER refuse BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION refuse();"
        }
        Dialect::Sqlite => {
            "CREATE TRIGGER refuse BEFORE INSERT ON users \
             BEGIN SELECT RAISE(ABORT, 'refused by test'); END;"
        }
    };
    conn.execute_unprepared(refuse_users).await.unwrap();
    let err = seed(&conn, &ADMIN).await.unwrap_err();
    assert!(
        matches!(
            err,
            SeedError::Db {
                context: "inserting the tenant admin",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(count(&conn, "SELECT count(*) FROM ledgers").await, 0);
}

async fn seed_refuses_an_unmigrated_database(dialect: Dialect) {
    let db = TestDb::new(dialect).await;
    let conn = db.connect().await;
    let err = seed(&conn, &ADMIN).await.unwrap_err();
    assert!(matches!(err, SeedError::Db { .. }), "{err:?}");
}

async fn invalid_admin_is_refused_before_touching_the_database(dialect: Dialect) {
    let (_db, conn) = migrated(dialect).await;
    let admin = tenantry_app::TenantAdmin {
        password_hash: "hunter2",
        ..ADMIN
    };
    let err = seed(&conn, &admin).await.unwrap_err();
    assert!(matches!(err, SeedError::InvalidAdmin(_)), "{err:?}");
    assert!(!format!("{err:?}").contains("hunter2"));
    assert_eq!(count(&conn, "SELECT count(*) FROM ledgers").await, 0);
}

both_dialects!(
    seed_creates_the_chart_and_the_admin,
    seeding_twice_changes_nothing,
    seed_completes_a_partial_chart,
    failed_seed_leaves_nothing,
    seed_refuses_an_unmigrated_database,
    invalid_admin_is_refused_before_touching_the_database,
);
