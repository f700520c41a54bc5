//! A tenant's status change and its audit row commit together: one row per change, naming
//! who, from where and in which request; a refused change (unknown tenant) or a refused audit
//! insert (a trigger on `audit_log`) leaves neither the status, the tombstone, the change feed
//! entry nor the row. Both dialects.

use std::sync::Arc;

use sea_orm::ConnectionTrait;
use serde_json::json;
use tenantry_core::settings::DatabaseUrl;
use tenantry_core::vault::{KeyRing, Vault};
use tenantry_core::{Email, PlanId, Subdomain, TenantId};
use tenantry_registry::{
    Actor, AuditEntry, AuditRecord, NewTenant, Origin, Registry, RegistryError, TenantStatus,
};
use tenantry_test_utils::{Dialect, TestDb};

async fn registry(db: &TestDb) -> Registry {
    let url = DatabaseUrl::parse(db.url()).unwrap();
    let vault = Arc::new(Vault::new(KeyRing::from_keys(
        KeyRing::generate_key(),
        vec![],
    )));
    let registry = Registry::connect(&url, vault).await.unwrap();
    registry.migrate().await.unwrap();
    registry
}

/// An admin API request: an actor, an address and a request id.
fn origin() -> Origin {
    Origin {
        actor: Actor::Admin {
            email: Email::parse("ops@example.com").unwrap(),
        },
        ip: Some("192.0.2.7".into()),
        request_id: Some("req-status-1".into()),
    }
}

fn entry(action: &'static str, tenant: TenantId) -> AuditEntry {
    origin().entry(action, Some(tenant), json!({ "subdomain": "acme" }))
}

/// An active tenant `acme`, activated with its own (`tenant.create`) audit row.
async fn active_tenant(registry: &Registry) -> TenantId {
    let id = TenantId::new();
    registry
        .reserve_tenant(NewTenant {
            id,
            subdomain: Subdomain::parse("acme", &[]).unwrap(),
            name: "Acme".into(),
            plan: PlanId::parse("free").unwrap(),
            server: None,
            db_name: "t_acme_00000000".into(),
            db_user: None,
            db_password: None,
            storage_limit_mb: None,
        })
        .await
        .unwrap();
    let created = Origin::from(Actor::System).entry("tenant.create", Some(id), json!({}));
    registry
        .activate_tenant(id, None, created, None)
        .await
        .unwrap();
    id
}

/// Every audit row but the tenant's creation, oldest first.
async fn status_rows(registry: &Registry) -> Vec<AuditRecord> {
    let mut rows = registry.recent_audit(100).await.unwrap();
    rows.retain(|r| r.action != "tenant.create");
    rows.reverse();
    rows
}

/// Makes every insert into `audit_log` fail, as a full disk or a lost connection would at that
/// moment: the status update before it in the transaction has already succeeded.
async fn refuse_audit_inserts(db: &TestDb) {
    let conn = db.connect().await;
    let sql = match db.dialect() {
        Dialect::Postgres => {
            "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$;
             CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log \
                 FOR EACH ROW EXECUTE FUNCTION refuse_audit();"
        }
        Dialect::Sqlite => {
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log \
                 BEGIN SELECT RAISE(ABORT, 'audit refused'); END;"
        }
    };
    conn.execute_unprepared(sql).await.unwrap();
    conn.close().await.unwrap();
}

async fn allow_audit_inserts(db: &TestDb) {
    let conn = db.connect().await;
    let sql = match db.dialect() {
        Dialect::Postgres => "DROP TRIGGER refuse_audit ON audit_log",
        Dialect::Sqlite => "DROP TRIGGER refuse_audit",
    };
    conn.execute_unprepared(sql).await.unwrap();
    conn.close().await.unwrap();
}

#[tokio::test]
async fn each_status_change_writes_exactly_one_audit_row_with_it() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let registry = registry(&db).await;
        let id = active_tenant(&registry).await;
        let changes = registry.latest_change_id().await.unwrap();

        let steps = [
            ("tenant.suspend", TenantStatus::Suspended, Some("unpaid")),
            ("tenant.reactivate", TenantStatus::Active, None),
            ("tenant.delete", TenantStatus::Deleted, None),
        ];
        for (action, status, reason) in steps {
            registry
                .set_tenant_status(id, status, reason.map(str::to_owned), entry(action, id))
                .await
                .unwrap();
            let tenant = registry.tenant(id).await.unwrap().unwrap();
            assert_eq!(tenant.status, status, "{dialect:?}");
            assert_eq!(tenant.status_reason.as_deref(), reason, "{dialect:?}");
        }
        let rows = status_rows(&registry).await;
        let actions: Vec<&str> = rows.iter().map(|r| r.action.as_str()).collect();
        assert_eq!(
            actions,
            ["tenant.suspend", "tenant.reactivate", "tenant.delete"],
            "{dialect:?}: one row per change, in order"
        );
        for row in &rows {
            assert_eq!(row.actor, "admin:ops@example.com", "{dialect:?}");
            assert_eq!(row.tenant, Some(id), "{dialect:?}");
            assert_eq!(row.ip.as_deref(), Some("192.0.2.7"), "{dialect:?}");
            assert_eq!(row.request_id.as_deref(), Some("req-status-1"));
            assert_eq!(row.detail, json!({ "subdomain": "acme" }), "{dialect:?}");
        }
        let feed = registry.changes_since(changes, 100).await.unwrap();
        assert_eq!(feed.changes.len(), 3, "{dialect:?}: one change per status");
    }
}

#[tokio::test]
async fn an_unknown_tenant_is_not_found_and_leaves_no_audit_row() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let registry = registry(&db).await;
        active_tenant(&registry).await;
        let changes = registry.latest_change_id().await.unwrap();
        let missing = TenantId::new();
        for (action, status) in [
            ("tenant.suspend", TenantStatus::Suspended),
            ("tenant.delete", TenantStatus::Deleted),
        ] {
            let refused = registry
                .set_tenant_status(missing, status, None, entry(action, missing))
                .await;
            assert!(
                matches!(refused, Err(RegistryError::NotFound { .. })),
                "{dialect:?}: {refused:?}"
            );
        }
        assert!(status_rows(&registry).await.is_empty(), "{dialect:?}");
        assert_eq!(registry.latest_change_id().await.unwrap(), changes);
    }
}

#[tokio::test]
async fn a_failed_audit_insert_rolls_the_status_change_back() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let registry = registry(&db).await;
        let id = active_tenant(&registry).await;
        let before = registry.tenant(id).await.unwrap().unwrap();
        let changes = registry.latest_change_id().await.unwrap();

        refuse_audit_inserts(&db).await;
        for (action, status, reason) in [
            ("tenant.suspend", TenantStatus::Suspended, Some("unpaid")),
            ("tenant.delete", TenantStatus::Deleted, None),
        ] {
            let refused = registry
                .set_tenant_status(id, status, reason.map(str::to_owned), entry(action, id))
                .await;
            assert!(
                matches!(refused, Err(RegistryError::Db(_))),
                "{dialect:?}: {action}: {refused:?}"
            );
            let after = registry.tenant(id).await.unwrap().unwrap();
            assert_eq!(
                after, before,
                "{dialect:?}: {action} left the tenant as it was"
            );
            assert_eq!(after.deleted_at, None, "{dialect:?}");
        }
        assert!(status_rows(&registry).await.is_empty(), "{dialect:?}");
        assert_eq!(
            registry.latest_change_id().await.unwrap(),
            changes,
            "{dialect:?}: no change reached the feed"
        );

        // The same change, retried once the audit trail takes rows again, goes through whole.
        allow_audit_inserts(&db).await;
        registry
            .set_tenant_status(id, TenantStatus::Deleted, None, entry("tenant.delete", id))
            .await
            .unwrap();
        let deleted = registry.tenant(id).await.unwrap().unwrap();
        assert_eq!(deleted.status, TenantStatus::Deleted, "{dialect:?}");
        assert!(deleted.deleted_at.is_some(), "{dialect:?}");
        let rows = status_rows(&registry).await;
        assert_eq!(rows.len(), 1, "{dialect:?}");
        assert_eq!(rows[0].action, "tenant.delete", "{dialect:?}");
    }
}
