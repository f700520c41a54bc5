//! Fleet runs on SQLite tenants: nothing pending opens no tenant connection, a dry run opens none
//! either, a broken tenant is isolated, reported and recorded while the rest migrate, a re-run
//! resumes, and without `continue_on_error` the run stops after the first failure.

use tenantry_app::MIGRATIONS;
use tenantry_provision::fleet::{FleetOptions, FleetOutcome};
use tenantry_test_utils::Dialect;

use crate::common::{Env, TENANT_V2, latest};
use crate::support::{ALL, break_tenant, noop};

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
    break_tenant(&env, &p, "fleet-007").await;

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
    break_tenant(&env, &p, "aaa").await;

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
