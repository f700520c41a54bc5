//! Helpers shared by the themes: registries on a test database, tenants in a given status,
//! backups started or completed, audit entries and the changes recorded.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;
use tenantry_core::settings::DatabaseUrl;
use tenantry_core::vault::{KeyRing, Vault};
use tenantry_core::{PlanId, Subdomain, TenantId};
use tenantry_registry::{
    Actor, AuditEntry, Backup, BackupDone, BackupKind, ChangeKind, NewBackup, NewTenant, Origin,
    Registry, TenantStatus,
};
use tenantry_test_utils::TestDb;
use uuid::Uuid;

/// A migrated registry on `db`.
pub(crate) async fn registry(db: &TestDb) -> Registry {
    let registry = registry_on(db).await;
    registry.migrate().await.unwrap();
    registry
}

/// Another handle on `db` with its own pool, as another process would have.
pub(crate) async fn registry_on(db: &TestDb) -> Registry {
    let url = DatabaseUrl::parse(db.url()).unwrap();
    let vault = Arc::new(Vault::new(KeyRing::from_keys(
        KeyRing::generate_key(),
        vec![],
    )));
    Registry::connect(&url, vault).await.unwrap()
}

pub(crate) fn audit(action: &'static str, tenant: TenantId) -> AuditEntry {
    Origin::from(Actor::System).entry(action, Some(tenant), json!({}))
}

/// A tenant in `status` (made active first, then moved there).
pub(crate) async fn tenant(registry: &Registry, subdomain: &str, status: TenantStatus) -> TenantId {
    let id = TenantId::new();
    registry
        .reserve_tenant(NewTenant {
            id,
            subdomain: Subdomain::parse(subdomain, &[]).unwrap(),
            name: subdomain.to_owned(),
            plan: PlanId::parse("free").unwrap(),
            server: None,
            db_name: format!("t_{subdomain}_{}", &id.to_string()[..8]),
            db_user: None,
            db_password: None,
            storage_limit_mb: None,
        })
        .await
        .unwrap();
    let created = audit("tenant.create", id);
    registry
        .activate_tenant(id, Some(1), created, None)
        .await
        .unwrap();
    if status != TenantStatus::Active {
        let changed = audit("tenant.status", id);
        registry
            .set_tenant_status(id, status, None, changed)
            .await
            .unwrap();
    }
    id
}

pub(crate) async fn start(registry: &Registry, tenant: TenantId, kind: BackupKind) -> Backup {
    let id = Uuid::now_v7();
    let new = NewBackup {
        id,
        tenant,
        location: format!("file:///backups/{tenant}/{id}.tbk"),
        kind,
        engine: "sqlite".into(),
        operation: Some(Uuid::now_v7()),
    };
    registry.start_backup(new).await.unwrap()
}

pub(crate) fn done(expires_at: Option<DateTime<Utc>>) -> BackupDone {
    BackupDone {
        bytes: 4096,
        sha256: "ab".repeat(32),
        schema_version: Some(1),
        key_id: "k1".into(),
        format_version: 1,
        expires_at,
    }
}

pub(crate) async fn completed(
    registry: &Registry,
    tenant: TenantId,
    kind: BackupKind,
    ttl: i64,
) -> Backup {
    let backup = start(registry, tenant, kind).await;
    let expires = Some(Utc::now() + chrono::Duration::hours(ttl));
    registry
        .complete_backup(backup.id, done(expires))
        .await
        .unwrap()
}

/// The kinds of the changes recorded after `after`.
pub(crate) async fn changes_after(registry: &Registry, after: i64) -> Vec<(TenantId, ChangeKind)> {
    let batch = registry.changes_since(after, 100).await.unwrap();
    batch.changes.iter().map(|c| (c.tenant, c.kind)).collect()
}
