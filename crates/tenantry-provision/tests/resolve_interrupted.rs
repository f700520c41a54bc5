//! `resolve_interrupted`, which `serve` runs every few seconds: processes running it at once
//! resolve each abandoned operation exactly once, a young operation (maybe alive elsewhere) is
//! left alone, and a fleet migration cut short ends failed, to be run again.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{Env, request};
use serde_json::json;
use tenantry_provision::Step;
use tenantry_provision::reconcile::Outcome;
use tenantry_registry::{OperationKind, OperationState};
use tenantry_test_utils::Dialect;

const STEPS: [Step; 4] = [Step::Role, Step::Database, Step::Migrate, Step::Seed];
const STALE_AFTER: Duration = Duration::from_millis(500);

#[tokio::test]
async fn each_abandoned_operation_is_resolved_by_exactly_one_of_two_processes() {
    let env = Env::new(Dialect::Sqlite).await;
    for (i, step) in STEPS.into_iter().enumerate() {
        let crashing = env.provisioner().with_failpoint(Some(step));
        crashing
            .create(request(&format!("twice-{i}")))
            .await
            .unwrap_err();
    }
    let (a, b) = (env.provisioner(), env.provisioner());
    assert!(
        a.resolve_interrupted(STALE_AFTER).await.unwrap().is_empty(),
        "younger than the stale window: maybe alive in another process"
    );

    tokio::time::sleep(STALE_AFTER + Duration::from_millis(100)).await;
    let (ra, rb) = tokio::join!(
        a.resolve_interrupted(STALE_AFTER),
        b.resolve_interrupted(STALE_AFTER)
    );
    let resolved: Vec<_> = ra.unwrap().into_iter().chain(rb.unwrap()).collect();
    let ids: HashSet<_> = resolved.iter().map(|r| r.operation).collect();
    assert_eq!(
        resolved.len(),
        STEPS.len(),
        "one resolution each: {resolved:?}"
    );
    assert_eq!(ids.len(), STEPS.len(), "{resolved:?}");
    assert!(
        resolved.iter().all(|r| r.outcome == Outcome::RolledBack),
        "{resolved:?}"
    );
    let left = env.registry.stale_operations(chrono::Utc::now()).await;
    assert!(left.unwrap().is_empty(), "every operation closed");
}

#[tokio::test]
async fn an_abandoned_fleet_migration_ends_failed_with_what_to_do() {
    let env = Env::new(Dialect::Sqlite).await;
    let op = env
        .registry
        .start_operation(
            OperationKind::FleetMigrate,
            None,
            "migrate",
            json!({}),
            None,
        )
        .await
        .unwrap();
    tokio::time::sleep(STALE_AFTER + Duration::from_millis(100)).await;

    let resolved = env
        .provisioner()
        .resolve_interrupted(STALE_AFTER)
        .await
        .unwrap();
    assert_eq!(resolved.len(), 1, "{resolved:?}");
    assert_eq!(resolved[0].outcome, Outcome::Interrupted);
    let ended = env.registry.operation(op.id).await.unwrap().unwrap();
    assert_eq!(ended.state, OperationState::Failed);
    assert!(ended.finished_at.is_some());
    let error = ended.error.unwrap_or_default();
    assert!(error.contains("run it again"), "{error}");
}
