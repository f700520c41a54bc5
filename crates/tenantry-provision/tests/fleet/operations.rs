//! Each tenant's migration is a recorded operation: a tenant busy with another operation waits
//! for a re-run, two concurrent fleet runs migrate each tenant once, and `reconcile` closes a
//! migration whose process died.

use tenantry_app::MIGRATIONS;
use tenantry_provision::fleet::FleetOutcome;
use tenantry_registry::OperationKind;
use tenantry_test_utils::Dialect;

use crate::common::{Env, TENANT_V2, TENANT_V3, latest};
use crate::support::{ALL, noop};

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
