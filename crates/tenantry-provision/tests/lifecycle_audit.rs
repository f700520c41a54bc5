//! The audit trail of suspend, reactivate and delete: exactly one row per action that changed
//! something, naming who asked, from where and in which request, and none for a refused one; a
//! delete that `reconcile` finishes after a crash is audited once, as `system`, naming who had
//! asked. PostgreSQL and SQLite.

mod common;

use std::time::Duration;

use common::Env;
use serde_json::json;
use tenantry_core::{Email, TenantId};
use tenantry_provision::reconcile::{DriftScope, Outcome};
use tenantry_registry::{
    Actor, AuditQuery, AuditRecord, OperationKind, Origin, Registry, TenantStatus,
};
use tenantry_test_utils::Dialect;

fn operator() -> Origin {
    Origin {
        actor: Actor::Admin {
            email: Email::parse("ops@example.com").unwrap(),
        },
        ip: Some("198.51.100.4".into()),
        request_id: Some("req-lifecycle".into()),
    }
}

/// The tenant's audit rows, oldest first.
async fn audit_of(registry: &Registry, tenant: TenantId) -> Vec<AuditRecord> {
    let query = AuditQuery {
        tenant: Some(tenant),
        page: 1,
        limit: 100,
        ..AuditQuery::default()
    };
    let mut rows = registry.list_audit(&query).await.unwrap().entries;
    rows.reverse();
    rows
}

#[tokio::test]
async fn each_lifecycle_action_writes_exactly_one_audit_row() {
    for backend in Dialect::ALL {
        let env = Env::new(backend).await;
        let p = env.provisioner();
        let acme = env.create(&p, "acme").await;
        let by = operator();
        p.suspend(&"acme".into(), "unpaid", &by).await.unwrap();
        p.reactivate(&"acme".into(), &by).await.unwrap();
        p.delete(&"acme".into(), "acme-typo", &by)
            .await
            .unwrap_err();
        p.delete(&"acme".into(), "acme", &by).await.unwrap();
        p.suspend(&acme.id.into(), "late", &by).await.unwrap_err();

        let rows = audit_of(&env.registry, acme.id).await;
        let actions: Vec<&str> = rows.iter().map(|r| r.action.as_str()).collect();
        assert_eq!(
            actions,
            [
                "tenant.create",
                "tenant.suspend",
                "tenant.reactivate",
                "tenant.delete"
            ],
            "{backend:?}: one row per change, none for the refused ones"
        );
        let details = [
            json!({ "subdomain": "acme", "reason": "unpaid" }),
            json!({ "subdomain": "acme" }),
            json!({ "subdomain": "acme", "db_name": acme.db_name }),
        ];
        for (row, detail) in rows[1..].iter().zip(details) {
            assert_eq!(row.actor, "admin:ops@example.com", "{backend:?}");
            assert_eq!(row.ip.as_deref(), Some("198.51.100.4"), "{backend:?}");
            assert_eq!(row.request_id.as_deref(), Some("req-lifecycle"));
            // A deletion also names the final backup it took and how long it keeps a way back.
            let mut shown = row.detail.clone();
            if row.action == "tenant.delete" {
                let extra = shown.as_object_mut().unwrap();
                assert!(
                    extra.remove("final_backup").unwrap().is_string(),
                    "{backend:?}"
                );
                assert!(extra.remove("recoverable_until").unwrap().is_string());
            }
            assert_eq!(shown, detail, "{backend:?}: {}", row.action);
        }
    }
}

#[tokio::test]
async fn a_delete_finished_by_reconcile_is_audited_once_as_system() {
    for backend in Dialect::ALL {
        let env = Env::new(backend).await;
        let p = env.provisioner();
        let acme = env.create(&p, "acme").await;
        // What a crash during `delete` leaves: its operation running, the tenant still live.
        let op = env
            .registry
            .start_operation(
                OperationKind::TenantDelete,
                Some(acme.id),
                "delete",
                json!({}),
                Some(&operator().actor),
            )
            .await
            .unwrap();

        for run in 0..2 {
            let report = p
                .reconcile(Duration::ZERO, DriftScope::Catalog)
                .await
                .unwrap();
            let outcomes: Vec<&Outcome> = report.operations.iter().map(|r| &r.outcome).collect();
            let expected: &[&Outcome] = if run == 0 {
                &[&Outcome::Completed]
            } else {
                &[]
            };
            assert_eq!(outcomes, expected, "{backend:?}: run {run}");
        }
        let tenant = env.registry.tenant(acme.id).await.unwrap().unwrap();
        assert_eq!(tenant.status, TenantStatus::Deleted, "{backend:?}");
        assert_eq!(env.leftovers(&acme.db_name).await, Vec::<String>::new());

        let rows = audit_of(&env.registry, acme.id).await;
        let deletions: Vec<&AuditRecord> = rows
            .iter()
            .filter(|r| r.action == "tenant.delete")
            .collect();
        assert_eq!(deletions.len(), 1, "{backend:?}: {rows:?}");
        let row = deletions[0];
        assert_eq!(row.actor, "system", "{backend:?}");
        assert_eq!(
            row.detail,
            json!({
                "subdomain": "acme",
                "db_name": acme.db_name,
                "operation": op.id,
                "requested_by": "admin:ops@example.com",
            }),
            "{backend:?}"
        );
    }
}
