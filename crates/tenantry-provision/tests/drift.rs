//! Drift on a PostgreSQL server shared with every other test: findings are checked by the names
//! this test created, so other tests' tenants (orphans to this master) cannot make it flaky,
//! while each kind of finding is still asserted exactly.

mod common;

use std::time::Duration;
use tenantry_registry::Actor;

use common::{Env, drift_about};
use sea_orm::ConnectionTrait;
use tenantry_core::TenantId;
use tenantry_provision::backend::DbIdent;
use tenantry_provision::reconcile::{Drift, DriftScope};
use tenantry_test_utils::{Dialect, pg_admin};

#[tokio::test]
async fn drift_on_a_shared_server_is_reported_for_what_this_test_made() {
    let env = Env::new(Dialect::Postgres).await;
    let p = env.provisioner();
    let fine = env.create(&p, "fine").await;
    let lost = env.create(&p, "lost").await;
    let stale = env.create(&p, "stale").await;

    // An orphan database and role nobody registered, named as Tenantry names them.
    let ghost = DbIdent::derive("ghost", TenantId::new()).to_string();
    let admin = pg_admin().await;
    admin
        .execute_unprepared(&format!(r#"CREATE ROLE "{ghost}""#))
        .await
        .unwrap();
    admin
        .execute_unprepared(&format!(r#"CREATE DATABASE "{ghost}" OWNER "{ghost}""#))
        .await
        .unwrap();
    // A tenant whose database vanished (its role stays), and one whose recorded version is off.
    admin
        .execute_unprepared(&format!(r#"DROP DATABASE "{}" WITH (FORCE)"#, lost.db_name))
        .await
        .unwrap();
    env.registry
        .record_schema_version(stale.id, Some(7), None)
        .await
        .unwrap();

    let report = p
        .reconcile(Duration::ZERO, DriftScope::Schema)
        .await
        .unwrap();
    // What `serve` checks at start: the same findings but the schema version, which would need
    // a connection to every tenant.
    let catalog = p
        .reconcile(Duration::ZERO, DriftScope::Catalog)
        .await
        .unwrap();
    let names = [
        ghost.as_str(),
        "fine",
        fine.db_name.as_str(),
        "lost",
        lost.db_name.as_str(),
        "stale",
        stale.db_name.as_str(),
    ];
    let mut found = drift_about(&report.drift, &names);
    found.sort_by_key(|d| format!("{d:?}"));
    let latest = tenantry_app::MIGRATIONS
        .latest_version(tenantry_migrate::Dialect::Postgres)
        .unwrap();
    let mut expected = [
        Drift::OrphanDatabase {
            server: common::SERVER.into(),
            database: ghost.clone(),
        },
        Drift::OrphanRole {
            server: common::SERVER.into(),
            role: ghost.clone(),
        },
        Drift::MissingDatabase {
            tenant: "lost".into(),
            database: lost.db_name.clone(),
        },
        Drift::SchemaVersion {
            tenant: "stale".into(),
            registry: Some(7),
            database: latest,
        },
    ];
    expected.sort_by_key(|d| format!("{d:?}"));
    // Before asserting, so a failure leaves nothing on the shared server.
    for sql in [
        format!(r#"DROP DATABASE "{ghost}" WITH (FORCE)"#),
        format!(r#"DROP ROLE "{ghost}""#),
    ] {
        admin.execute_unprepared(&sql).await.unwrap();
    }
    assert_eq!(found, expected.iter().collect::<Vec<_>>());
    let mut found = drift_about(&catalog.drift, &names);
    found.sort_by_key(|d| format!("{d:?}"));
    let without_schema: Vec<&Drift> = expected
        .iter()
        .filter(|d| !matches!(d, Drift::SchemaVersion { .. }))
        .collect();
    assert_eq!(found, without_schema);
    for t in ["fine", "lost", "stale"] {
        p.delete(&t.into(), t, &Actor::System.into()).await.unwrap();
    }
}
