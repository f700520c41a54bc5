//! Fleet migration on 200 SQLite tenants (and a few on PostgreSQL): nothing pending → no tenant
//! connection; a new migration → all reach it; one broken tenant → the rest go on, it is
//! reported and recorded, and a re-run resumes.

mod common;

use common::{Env, TENANT_V2, TENANT_V3, latest};
use sea_orm::ConnectionTrait;
use tenantry_app::MIGRATIONS;
use tenantry_provision::fleet::{FleetOptions, FleetOutcome};
use tenantry_registry::{Actor, OperationKind, TenantStatus};
use tenantry_test_utils::Dialect;

const ALL: FleetOptions = FleetOptions {
    concurrency: 8,
    continue_on_error: true,
    dry_run: false,
};

fn noop(_: &tenantry_provision::fleet::TenantMigration) {}

/// The fixture sets are the real tenant migrations, byte for byte (refinery checks checksums),
/// followed by one (`TENANT_V2`) and two (`TENANT_V3`) test-only migrations: a new real
/// migration must be added to the fixtures and the test ones renumbered after it.
#[test]
fn fixtures_are_the_real_migrations_plus_one_and_two_releases() {
    for dialect in [
        tenantry_migrate::Dialect::Postgres,
        tenantry_migrate::Dialect::Sqlite,
    ] {
        let key = |source: &tenantry_migrate::MigrationSource| -> Vec<(i32, String, u64)> {
            source
                .migrations(dialect)
                .unwrap()
                .iter()
                .map(|m| (m.version(), m.name().to_owned(), m.checksum()))
                .collect()
        };
        let (real, v2, v3) = (key(&MIGRATIONS), key(&TENANT_V2), key(&TENANT_V3));
        assert!(!real.is_empty(), "{dialect}");
        assert_eq!(v2.len(), real.len() + 1, "{dialect}: {v2:?}");
        assert_eq!(v2[..real.len()], real[..], "{dialect}");
        assert_eq!(v3.len(), v2.len() + 1, "{dialect}: {v3:?}");
        assert_eq!(v3[..v2.len()], v2[..], "{dialect}");
    }
    assert_eq!(
        (
            latest(&MIGRATIONS).map(|v| v + 1),
            latest(&MIGRATIONS).map(|v| v + 2)
        ),
        (latest(&TENANT_V2), latest(&TENANT_V3))
    );
}

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

    // One tenant broken before the new release: its migration alters `ledgers`, which it no
    // longer has.
    let broken = env.registry.find_tenant(&"fleet-007".into()).await.unwrap();
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
    assert_eq!(
        (failed.tenant.as_str(), failed.to),
        ("fleet-007", latest(&MIGRATIONS))
    );

    let recorded = env.registry.find_tenant(&"fleet-007".into()).await.unwrap();
    assert_eq!(recorded.schema_version, latest(&MIGRATIONS));
    assert!(
        recorded
            .migration_error
            .as_deref()
            .is_some_and(|e| e.contains("ledgers")),
        "{recorded:?}"
    );
    let healthy = env.registry.find_tenant(&"fleet-008".into()).await.unwrap();
    assert_eq!(
        (healthy.schema_version, healthy.migration_error),
        (latest(&TENANT_V2), None)
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
    let broken = env.registry.find_tenant(&"aaa".into()).await.unwrap();
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
    let broken = env.registry.find_tenant(&"broken".into()).await.unwrap();
    let conn = p.connect_tenant(&broken).await.unwrap();
    conn.execute_unprepared("DROP TABLE voucher_lines; DROP TABLE ledgers;")
        .await
        .unwrap();
    conn.close().await.unwrap();
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

/// Each tenant migrates as its running operation: a tenant busy with another operation is left
/// for a re-run, and two fleet runs at once migrate every tenant exactly once between them.
#[tokio::test]
async fn migrations_of_one_tenant_never_overlap() {
    let env = Env::new(Dialect::Sqlite).await;
    let p = env.provisioner();
    for i in 0..12 {
        env.create(&p, &format!("one-{i:02}")).await;
    }
    let tenants = || async { env.registry.list_tenants(None).await.unwrap() };
    let v2 = env.provisioner().with_migrations(&TENANT_V2);

    // Another operation (a suspend in another process, say) holds one tenant.
    let held = env.registry.find_tenant(&"one-00".into()).await.unwrap();
    let hold = env
        .registry
        .start_operation(
            OperationKind::TenantSuspend,
            Some(held.id),
            "holding",
            serde_json::json!({}),
            None,
        )
        .await
        .unwrap();
    let first = v2
        .migrate_tenants(tenants().await, ALL, &noop)
        .await
        .unwrap();
    assert_eq!(first.count(|o| *o == FleetOutcome::Busy), 1, "{first:?}");
    assert_eq!(first.count(|o| *o == FleetOutcome::Migrated), 11);
    let left = env.registry.find_tenant(&"one-00".into()).await.unwrap();
    assert_eq!(
        (left.schema_version, left.migration_error),
        (latest(&MIGRATIONS), None)
    );
    env.registry
        .finish_operation(hold.id, tenantry_registry::OperationState::Succeeded, None)
        .await
        .unwrap();
    let rerun = v2
        .migrate_tenants(tenants().await, ALL, &noop)
        .await
        .unwrap();
    assert_eq!(
        rerun.count(|o| *o == FleetOutcome::Migrated),
        1,
        "{rerun:?}"
    );
    assert_eq!(rerun.count(|o| *o == FleetOutcome::UpToDate), 11);

    // A third release, run by two processes at once from the same listing.
    let v3 = env.provisioner().with_migrations(&TENANT_V3);
    let listing = tenants().await;
    let (a, b) = tokio::join!(
        v3.migrate_tenants(listing.clone(), ALL, &noop),
        v3.migrate_tenants(listing, ALL, &noop),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    for (x, y) in a.tenants.iter().zip(&b.tenants) {
        assert_eq!(x.tenant, y.tenant);
        let outcomes = [&x.outcome, &y.outcome];
        assert_eq!(
            outcomes
                .iter()
                .filter(|o| ***o == FleetOutcome::Migrated)
                .count(),
            1,
            "{}: migrated once between the two runs: {outcomes:?}",
            x.tenant
        );
        assert!(
            outcomes.iter().all(|o| matches!(
                o,
                FleetOutcome::Migrated | FleetOutcome::Busy | FleetOutcome::UpToDate
            )),
            "{}: {outcomes:?}",
            x.tenant
        );
    }
    for t in tenants().await {
        assert_eq!(
            (t.schema_version, t.migration_error),
            (latest(&TENANT_V3), None),
            "{}",
            t.subdomain
        );
    }
}

/// A migration whose process died leaves its operation running; `reconcile` closes it as rolled
/// back (each migration is its own transaction), and the tenant can be migrated again.
#[tokio::test]
async fn reconcile_closes_an_interrupted_migration() {
    use tenantry_provision::reconcile::{DriftScope, Outcome};

    let env = Env::new(Dialect::Sqlite).await;
    let p = env.provisioner();
    env.create(&p, "crashed").await;
    let tenant = env.registry.find_tenant(&"crashed".into()).await.unwrap();
    env.registry
        .start_operation(
            OperationKind::TenantMigrate,
            Some(tenant.id),
            "migrate",
            serde_json::json!({}),
            None,
        )
        .await
        .unwrap();
    let report = p
        .reconcile(std::time::Duration::ZERO, DriftScope::Catalog)
        .await
        .unwrap();
    let resolved: Vec<_> = report
        .operations
        .iter()
        .map(|r| (r.kind, &r.outcome))
        .collect();
    assert_eq!(
        resolved,
        vec![(OperationKind::TenantMigrate, &Outcome::RolledBack)]
    );
    let v2 = env.provisioner().with_migrations(&TENANT_V2);
    let rerun = v2.migrate_tenants(vec![tenant], ALL, &noop).await.unwrap();
    assert_eq!(
        rerun.count(|o| *o == FleetOutcome::Migrated),
        1,
        "{rerun:?}"
    );
}
