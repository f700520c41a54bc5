//! Crash safety: provisioning stopped after each step in turn (as a crash would leave it), then
//! `reconcile`: no orphan database, role, file or half-made registry row, and the same
//! subdomain can be created again.

mod common;

use std::time::Duration;
use tenantry_core::Subdomain;

use common::{Env, drift_about};
use serde_json::json;
use tenantry_provision::reconcile::{Drift, DriftScope, Outcome};
use tenantry_provision::{ProvisionError, Provisioner, Step};
use tenantry_registry::{Actor, OperationState, Origin, RegistryError, TenantStatus};
use tenantry_test_utils::Dialect;

async fn delete(p: &Provisioner, subdomain: &str) {
    p.delete(&subdomain.into(), subdomain, &Actor::System.into())
        .await
        .unwrap();
}

async fn created_audited(env: &Env, db_name: &str) -> bool {
    env.registry
        .recent_audit(100)
        .await
        .unwrap()
        .into_iter()
        .any(|a| a.action == "tenant.create" && a.detail["db_name"] == db_name)
}

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
            let p = env.provisioner();
            if step == Step::Activate {
                // The last step's commit closes the operation with the activation: a crash
                // after it leaves nothing to repair.
                let ops = env.registry.stale_operations(chrono::Utc::now()).await;
                assert!(ops.unwrap().is_empty(), "{backend:?}: no open operation");
                let t = env
                    .registry
                    .find_tenant(&subdomain.as_str().into())
                    .await
                    .unwrap();
                assert_eq!(t.status, TenantStatus::Active);
                assert!(created_audited(&env, &t.db_name).await, "{backend:?}");
                let report = p
                    .reconcile(Duration::ZERO, DriftScope::Schema)
                    .await
                    .unwrap();
                assert!(report.operations.is_empty(), "{backend:?}: {report:?}");
                delete(&p, &subdomain).await;
                continue;
            }
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

            let report = p
                .reconcile(Duration::ZERO, DriftScope::Schema)
                .await
                .unwrap();
            assert_eq!(report.operations.len(), 1, "{backend:?}/{step}: {report:?}");
            // Operations are per master, so the count above is this test's own; drift is per
            // server, so only what concerns this tenant is ours (see `drift_about`).
            assert_eq!(
                drift_about(&report.drift, &[&db_name, &subdomain]),
                Vec::<&Drift>::new(),
                "{backend:?}/{step}: drift after repair"
            );
            if backend == Dialect::Sqlite {
                assert_eq!(
                    report.drift,
                    [],
                    "{step}: the tenant directory is this test's own"
                );
            }
            assert!(
                !created_audited(&env, &db_name).await,
                "{backend:?}/{step}: a tenant.create audit row only once the tenant is active"
            );
            let op = env
                .registry
                .operation(report.operations[0].operation)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                report.operations[0].outcome,
                Outcome::RolledBack,
                "{backend:?}/{step}"
            );
            assert_eq!(op.state, OperationState::RolledBack);
            assert!(
                env.registry
                    .live_tenant_by_subdomain(&Subdomain::parse(&subdomain, &[]).unwrap())
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
            delete(&p, &subdomain).await;
            let again = p
                .reconcile(Duration::ZERO, DriftScope::Schema)
                .await
                .unwrap();
            assert!(again.operations.is_empty(), "reconcile is idempotent");
            assert_eq!(
                drift_about(&again.drift, &[&db_name, &subdomain]),
                Vec::<&Drift>::new(),
                "{backend:?}/{step}: nothing left after delete"
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
        .reconcile(Duration::from_secs(3600), DriftScope::Schema)
        .await
        .unwrap();
    assert!(
        report.operations.is_empty(),
        "an operation updated just now may be alive elsewhere"
    );
    assert!(
        env.registry
            .live_tenant_by_subdomain(&Subdomain::parse("inflight", &[]).unwrap())
            .await
            .unwrap()
            .is_some()
    );
}

/// A creation whose operation was never closed although its tenant is active (a release that
/// closed it after the activation, in a commit of its own, could crash between the two) must not
/// be rolled back once the tenant has moved on: suspended, it keeps its database, role and
/// status, and its role stays unable to log in. (Tenantry itself refuses to suspend a tenant
/// while its creation is still open — one running operation per tenant — so the status is
/// changed behind its back, as a release without that rule could have.)
#[tokio::test]
async fn reconcile_never_undoes_a_creation_that_completed() {
    for backend in Dialect::ALL {
        let env = Env::new(backend).await;
        let p = env.provisioner();
        let created = p.create(common::request("done")).await.unwrap().tenant;
        {
            use sea_orm::ConnectionTrait as _;
            let master = env.registry.connection();
            let reopen = sea_orm::Statement::from_sql_and_values(
                master.get_database_backend(),
                "UPDATE operations SET state = 'running', finished_at = NULL \
                 WHERE tenant_id = $1 AND kind = 'tenant.create'",
                [created.id.as_uuid().into()],
            );
            let reopened = master.execute_raw(reopen).await.unwrap();
            assert_eq!(reopened.rows_affected(), 1, "{backend:?}");
        }
        assert!(
            matches!(
                p.suspend(&"done".into(), "unpaid", &Actor::System.into())
                    .await,
                Err(ProvisionError::Registry(RegistryError::Busy { .. }))
            ),
            "{backend:?}: the creation is still open"
        );
        let done = env.registry.find_tenant(&"done".into()).await.unwrap();
        env.registry
            .set_tenant_status(
                done.id,
                TenantStatus::Suspended,
                Some("unpaid".into()),
                Origin::from(Actor::System).entry("tenant.suspend", Some(done.id), json!({})),
            )
            .await
            .unwrap();
        if let Some(role) = &done.db_user {
            use sea_orm::ConnectionTrait as _;
            tenantry_test_utils::pg_admin()
                .await
                .execute_unprepared(&format!(r#"ALTER ROLE "{role}" NOLOGIN"#))
                .await
                .unwrap();
        }
        let suspended = env.registry.find_tenant(&"done".into()).await.unwrap();

        let report = p
            .reconcile(Duration::ZERO, DriftScope::Schema)
            .await
            .unwrap();
        assert_eq!(report.operations.len(), 1, "{backend:?}: {report:?}");
        assert_eq!(
            report.operations[0].outcome,
            Outcome::Completed,
            "{backend:?}"
        );
        let t = env.registry.find_tenant(&"done".into()).await.unwrap();
        assert_eq!(
            (t.status, t.status_reason.as_deref()),
            (TenantStatus::Suspended, Some("unpaid")),
            "{backend:?}"
        );
        assert!(
            !env.leftovers(&t.db_name).await.is_empty(),
            "{backend:?}: the database of a completed tenant was dropped"
        );
        if backend == Dialect::Postgres {
            assert!(
                matches!(
                    p.connect_tenant(&suspended).await,
                    Err(ProvisionError::TenantConnect { .. })
                ),
                "the suspended role logs in again"
            );
        }
        delete(&p, "done").await;
    }
}
