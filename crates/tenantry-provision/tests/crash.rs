//! Crash safety: provisioning stopped after each step in turn (as a crash would leave it), then
//! `reconcile`: no orphan database, role, file or half-made registry row, and the same
//! subdomain can be created again.

mod common;

use std::time::Duration;

use common::Env;
use tenantry_provision::reconcile::Outcome;
use tenantry_provision::{ProvisionError, Step};
use tenantry_registry::{OperationState, TenantStatus};
use tenantry_test_utils::Dialect;

#[tokio::test]
async fn reconcile_repairs_a_crash_after_every_step() {
    for backend in Dialect::ALL {
        let env = Env::new(backend).await;
        for step in Step::ALL {
            let subdomain = format!("crash-{step}");
            let crashing = env.provisioner().with_failpoint(Some(step));
            let err = crashing
                .create(common::request(&subdomain))
                .await
                .unwrap_err();
            assert!(
                matches!(err, ProvisionError::Failpoint(s) if s == step),
                "{err}"
            );
            let ops = env
                .registry
                .stale_operations(chrono::Utc::now())
                .await
                .unwrap();
            assert_eq!(
                ops.len(),
                1,
                "{backend:?}/{step}: one interrupted operation"
            );
            let db_name = ops[0].params["db_name"].as_str().unwrap().to_owned();

            let p = env.provisioner();
            let report = p.reconcile(Duration::ZERO).await.unwrap();
            assert_eq!(report.operations.len(), 1, "{backend:?}/{step}: {report:?}");
            let op = env
                .registry
                .operation(report.operations[0].operation)
                .await
                .unwrap()
                .unwrap();
            if step == Step::Activate {
                // Crashed after activation: the tenant is complete, the operation is closed.
                assert_eq!(report.operations[0].outcome, Outcome::Completed);
                assert_eq!(op.state, OperationState::Succeeded);
                let t = env.registry.find_tenant(&subdomain).await.unwrap();
                assert_eq!(t.status, TenantStatus::Active);
                p.delete(&subdomain, &subdomain, "test").await.unwrap();
            } else {
                assert_eq!(
                    report.operations[0].outcome,
                    Outcome::RolledBack,
                    "{backend:?}/{step}"
                );
                assert_eq!(op.state, OperationState::RolledBack);
                assert!(
                    env.registry
                        .live_tenant_by_subdomain(&subdomain)
                        .await
                        .unwrap()
                        .is_none(),
                    "{step}: row left"
                );
                assert_eq!(
                    env.leftovers(&db_name).await,
                    Vec::<String>::new(),
                    "{backend:?}/{step}: orphans"
                );
                let again = env.create(&p, &subdomain).await;
                assert_eq!(again.status, TenantStatus::Active);
                p.delete(&subdomain, &subdomain, "test").await.unwrap();
            }
            assert!(
                p.reconcile(Duration::ZERO)
                    .await
                    .unwrap()
                    .operations
                    .is_empty(),
                "reconcile is idempotent"
            );
        }
    }
}

#[tokio::test]
async fn reconcile_leaves_operations_that_are_still_moving_alone() {
    let env = Env::new(Dialect::Sqlite).await;
    let crashing = env.provisioner().with_failpoint(Some(Step::Database));
    crashing
        .create(common::request("inflight"))
        .await
        .unwrap_err();
    let report = env
        .provisioner()
        .reconcile(Duration::from_secs(3600))
        .await
        .unwrap();
    assert!(
        report.operations.is_empty(),
        "an operation updated just now may be alive elsewhere"
    );
    assert!(
        env.registry
            .live_tenant_by_subdomain("inflight")
            .await
            .unwrap()
            .is_some()
    );
}
