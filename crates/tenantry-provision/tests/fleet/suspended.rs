//! PostgreSQL tenants and suspension: tenants migrate as their own role, suspended ones are
//! skipped, and reactivation catches their schema up (a failed catch-up leaves them active).

use sea_orm::ConnectionTrait;
use tenantry_app::MIGRATIONS;
use tenantry_provision::fleet::FleetOutcome;
use tenantry_registry::{Actor, TenantStatus};
use tenantry_test_utils::Dialect;

use crate::common::{Env, TENANT_V2, latest};
use crate::support::{ALL, break_tenant, noop};

#[tokio::test]
async fn postgres_tenants_migrate_as_their_own_role_and_suspended_ones_wait() {
    let env = Env::new(Dialect::Postgres).await;
    let p = env.provisioner();
    for name in ["pga", "pgb", "pgc"] {
        env.create(&p, name).await;
    }
    p.suspend(&"pgc".into(), "testing", &Actor::System.into())
        .await
        .unwrap();
    let v2 = env.provisioner().with_migrations(&TENANT_V2);
    let report = v2
        .migrate_tenants(env.registry.list_tenants(None).await.unwrap(), ALL, &noop)
        .await
        .unwrap();
    assert_eq!(
        report.count(|o| *o == FleetOutcome::Migrated),
        2,
        "{report:?}"
    );
    assert_eq!(report.count(|o| matches!(o, FleetOutcome::Skipped(_))), 1);
    for name in ["pga", "pgb", "pgc"] {
        v2.delete(&name.into(), name, &Actor::System.into())
            .await
            .unwrap();
    }
}

/// Fleet migration skips suspended tenants, so reactivation catches their schema up at once. A
/// catch-up that fails leaves the tenant active (the reactivation stands), recorded and reported.
#[tokio::test]
async fn reactivation_catches_up_the_schema_fleet_migration_skipped() {
    let env = Env::new(Dialect::Postgres).await;
    let p = env.provisioner();
    for name in ["behind", "broken"] {
        env.create(&p, name).await;
    }
    // `broken` loses the table the new release alters, as in the fleet test above.
    break_tenant(&env, &p, "broken").await;
    for name in ["behind", "broken"] {
        p.suspend(&name.into(), "unpaid", &Actor::System.into())
            .await
            .unwrap();
    }

    // A release adds a migration; the fleet run cannot reach the suspended tenants.
    let v2 = env.provisioner().with_migrations(&TENANT_V2);
    let fleet = v2
        .migrate_tenants(env.registry.list_tenants(None).await.unwrap(), ALL, &noop)
        .await
        .unwrap();
    assert_eq!(
        fleet.count(|o| matches!(o, FleetOutcome::Skipped(_))),
        2,
        "{fleet:?}"
    );

    let back = v2
        .reactivate(&"behind".into(), &Actor::System.into())
        .await
        .unwrap();
    assert_eq!(back.tenant.status, TenantStatus::Active);
    let m = back.migration.as_ref().expect("a catch-up was needed");
    assert_eq!(
        (m.from, m.to, &m.outcome),
        (
            latest(&MIGRATIONS),
            latest(&TENANT_V2),
            &FleetOutcome::Migrated
        )
    );
    assert!(!back.migration_failed());
    assert_eq!(
        (
            back.tenant.schema_version,
            back.tenant.migration_error.as_deref()
        ),
        (latest(&TENANT_V2), None)
    );
    let conn = v2.connect_tenant(&back.tenant).await.unwrap();
    conn.execute_unprepared("SELECT note FROM ledgers LIMIT 1")
        .await
        .expect("the new release's column exists");
    conn.close().await.unwrap();

    let back = v2
        .reactivate(&"broken".into(), &Actor::System.into())
        .await
        .unwrap();
    assert!(back.migration_failed(), "{back:?}");
    assert_eq!(
        back.tenant.status,
        TenantStatus::Active,
        "reactivation stands"
    );
    let recorded = env.registry.find_tenant(&"broken".into()).await.unwrap();
    assert_eq!(recorded.status, TenantStatus::Active);
    assert_eq!(recorded.schema_version, latest(&MIGRATIONS));
    assert!(
        recorded
            .migration_error
            .as_deref()
            .is_some_and(|e| e.contains("ledgers")),
        "{recorded:?}"
    );
    assert_eq!(back.tenant.migration_error, recorded.migration_error);
    v2.connect_tenant(&recorded)
        .await
        .expect("the reactivated role logs in")
        .close()
        .await
        .unwrap();

    // Up to date: reactivating again migrates nothing.
    let again = v2
        .reactivate(&"behind".into(), &Actor::System.into())
        .await
        .unwrap();
    assert!(again.migration.is_none(), "{again:?}");
    for name in ["behind", "broken"] {
        v2.delete(&name.into(), name, &Actor::System.into())
            .await
            .unwrap();
    }
}
