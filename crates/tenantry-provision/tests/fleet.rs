//! Fleet migration on 200 SQLite tenants (and a few on PostgreSQL): nothing pending → no tenant
//! connection; a new migration → all reach it; one broken tenant → the rest go on, it is
//! reported and recorded, and a re-run resumes.

mod common;

use common::{Env, TENANT_V2};
use sea_orm::ConnectionTrait;
use tenantry_provision::fleet::{FleetOptions, FleetOutcome};
use tenantry_registry::TenantStatus;
use tenantry_test_utils::Dialect;

const ALL: FleetOptions = FleetOptions {
    concurrency: 8,
    continue_on_error: true,
    dry_run: false,
};

fn noop(_: &tenantry_provision::fleet::TenantMigration) {}

#[tokio::test]
async fn fleet_of_200_skips_by_registry_migrates_and_isolates_a_broken_tenant() {
    let env = Env::new(Dialect::Sqlite).await;
    let p = env.provisioner();
    for i in 0..200 {
        env.create(&p, &format!("fleet-{i:03}")).await;
    }
    let tenants = || async { env.registry.list_tenants(None).await.unwrap() };

    // Nothing pending: decided from the registry alone. Moving every tenant file away proves
    // that no tenant database is opened.
    let dir = env.master.dir().join("tenants");
    let away = env.master.dir().join("tenants.away");
    std::fs::rename(&dir, &away).unwrap();
    let report = p
        .migrate_tenants(tenants().await, ALL, &noop)
        .await
        .unwrap();
    std::fs::rename(&away, &dir).unwrap();
    assert_eq!(report.connections_opened, 0);
    assert_eq!(report.count(|o| *o == FleetOutcome::UpToDate), 200);

    // One tenant broken before the new release: V2 alters `ledgers`, which it no longer has.
    let broken = env.registry.find_tenant("fleet-007").await.unwrap();
    let conn = p.connect_tenant(&broken).await.unwrap();
    conn.execute_unprepared("DROP TABLE voucher_lines; DROP TABLE ledgers;")
        .await
        .unwrap();
    conn.close().await.unwrap();

    let v2 = env.provisioner().with_migrations(&TENANT_V2);
    let dry = v2
        .migrate_tenants(
            tenants().await,
            FleetOptions {
                dry_run: true,
                ..ALL
            },
            &noop,
        )
        .await
        .unwrap();
    assert_eq!(
        (
            dry.connections_opened,
            dry.count(|o| *o == FleetOutcome::WouldMigrate)
        ),
        (0, 200)
    );

    let report = v2
        .migrate_tenants(tenants().await, ALL, &noop)
        .await
        .unwrap();
    assert_eq!(report.count(|o| *o == FleetOutcome::Migrated), 199);
    assert_eq!(report.failed(), 1);
    let failed = report
        .tenants
        .iter()
        .find(|t| matches!(t.outcome, FleetOutcome::Failed(_)))
        .unwrap();
    assert_eq!((failed.tenant.as_str(), failed.to), ("fleet-007", Some(1)));

    let recorded = env.registry.find_tenant("fleet-007").await.unwrap();
    assert_eq!(recorded.schema_version, Some(1));
    assert!(
        recorded
            .migration_error
            .as_deref()
            .is_some_and(|e| e.contains("ledgers")),
        "{recorded:?}"
    );
    let healthy = env.registry.find_tenant("fleet-008").await.unwrap();
    assert_eq!(
        (healthy.schema_version, healthy.migration_error),
        (Some(2), None)
    );

    // A re-run resumes: only the broken tenant is attempted again.
    let rerun = v2
        .migrate_tenants(tenants().await, ALL, &noop)
        .await
        .unwrap();
    assert_eq!(rerun.connections_opened, 1);
    assert_eq!(rerun.count(|o| *o == FleetOutcome::UpToDate), 199);
    assert_eq!(rerun.failed(), 1);
}

#[tokio::test]
async fn without_continue_on_error_the_fleet_stops_after_the_first_failure() {
    let env = Env::new(Dialect::Sqlite).await;
    let p = env.provisioner();
    for name in ["aaa", "bbb", "ccc", "ddd"] {
        env.create(&p, name).await;
    }
    let broken = env.registry.find_tenant("aaa").await.unwrap();
    let conn = p.connect_tenant(&broken).await.unwrap();
    conn.execute_unprepared("DROP TABLE voucher_lines; DROP TABLE ledgers;")
        .await
        .unwrap();
    conn.close().await.unwrap();

    let v2 = env.provisioner().with_migrations(&TENANT_V2);
    let tenants = env.registry.list_tenants(None).await.unwrap();
    let options = FleetOptions {
        concurrency: 1,
        continue_on_error: false,
        dry_run: false,
    };
    let report = v2.migrate_tenants(tenants, options, &noop).await.unwrap();
    assert_eq!(report.failed(), 1);
    assert_eq!(
        report.count(|o| *o == FleetOutcome::NotAttempted),
        3,
        "{report:?}"
    );
}

#[tokio::test]
async fn postgres_tenants_migrate_as_their_own_role_and_suspended_ones_wait() {
    let env = Env::new(Dialect::Postgres).await;
    let p = env.provisioner();
    for name in ["pga", "pgb", "pgc"] {
        env.create(&p, name).await;
    }
    p.suspend("pgc", "testing", "test").await.unwrap();
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
        v2.delete(name, name, "test").await.unwrap();
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
    // `broken` loses the table V2 alters, as in the fleet test above.
    let broken = env.registry.find_tenant("broken").await.unwrap();
    let conn = p.connect_tenant(&broken).await.unwrap();
    conn.execute_unprepared("DROP TABLE voucher_lines; DROP TABLE ledgers;")
        .await
        .unwrap();
    conn.close().await.unwrap();
    for name in ["behind", "broken"] {
        p.suspend(name, "unpaid", "test").await.unwrap();
    }

    // A release adds V2; the fleet run cannot reach the suspended tenants.
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

    let back = v2.reactivate("behind", "test").await.unwrap();
    assert_eq!(back.tenant.status, TenantStatus::Active);
    let m = back.migration.as_ref().expect("a catch-up was needed");
    assert_eq!(
        (m.from, m.to, &m.outcome),
        (Some(1), Some(2), &FleetOutcome::Migrated)
    );
    assert!(!back.migration_failed());
    assert_eq!(
        (
            back.tenant.schema_version,
            back.tenant.migration_error.as_deref()
        ),
        (Some(2), None)
    );
    let conn = v2.connect_tenant(&back.tenant).await.unwrap();
    conn.execute_unprepared("SELECT note FROM ledgers LIMIT 1")
        .await
        .expect("V2's column exists");
    conn.close().await.unwrap();

    let back = v2.reactivate("broken", "test").await.unwrap();
    assert!(back.migration_failed(), "{back:?}");
    assert_eq!(
        back.tenant.status,
        TenantStatus::Active,
        "reactivation stands"
    );
    let recorded = env.registry.find_tenant("broken").await.unwrap();
    assert_eq!(recorded.status, TenantStatus::Active);
    assert_eq!(recorded.schema_version, Some(1));
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
    let again = v2.reactivate("behind", "test").await.unwrap();
    assert!(again.migration.is_none(), "{again:?}");
    for name in ["behind", "broken"] {
        v2.delete(name, name, "test").await.unwrap();
    }
}
