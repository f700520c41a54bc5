//! Helpers shared by the themes: a migrated registry, reserved tenants, the CLI actor and audit entries.

use std::sync::Arc;

use serde_json::json;
use tenantry_core::settings::DatabaseUrl;
use tenantry_core::vault::{KeyRing, Vault};
use tenantry_core::{PlanId, Subdomain, TenantId};
use tenantry_registry::{Actor, AuditEntry, NewTenant, Registry, Tenant};
use tenantry_test_utils::TestDb;

pub(crate) async fn registry(db: &TestDb) -> Registry {
    let url = DatabaseUrl::parse(db.url()).unwrap();
    let vault = Arc::new(Vault::new(KeyRing::from_keys(
        KeyRing::generate_key(),
        vec![],
    )));
    let registry = Registry::connect(&url, vault).await.unwrap();
    registry.migrate().await.unwrap();
    registry
}

pub(crate) fn plan(id: &str) -> PlanId {
    PlanId::parse(id).unwrap()
}

pub(crate) async fn add(registry: &Registry, subdomain: &str, name: &str, plan_id: &str) -> Tenant {
    registry
        .reserve_tenant(NewTenant {
            id: TenantId::new(),
            subdomain: Subdomain::parse(subdomain, &[]).unwrap(),
            name: name.to_owned(),
            plan: plan(plan_id),
            server: None,
            db_name: format!("t_{subdomain}"),
            db_user: None,
            db_password: None,
            storage_limit_mb: None,
        })
        .await
        .unwrap()
}

pub(crate) fn cli() -> Actor {
    Actor::Cli {
        user: "root".into(),
    }
}

pub(crate) fn entry(actor: Actor, action: &'static str, tenant: Option<TenantId>) -> AuditEntry {
    AuditEntry {
        actor,
        action,
        tenant_id: tenant,
        ip: Some("192.0.2.1".into()),
        request_id: None,
        detail: json!({}),
    }
}
