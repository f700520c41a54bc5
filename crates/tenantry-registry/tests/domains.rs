//! Custom domains in the registry: one owner at a time, only verified ones route, deletion
//! releases them. Both dialects.

use std::sync::Arc;

use tenantry_core::settings::DatabaseUrl;
use tenantry_core::vault::{KeyRing, Vault};
use tenantry_core::{DomainName, Subdomain, TenantId};
use tenantry_registry::{NewTenant, Registry, RegistryError, TenantStatus};
use tenantry_test_utils::{Dialect, TestDb};

#[tokio::test]
async fn custom_domains_route_once_verified_and_are_released_on_delete() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let url = DatabaseUrl::parse(db.url()).unwrap();
        let vault = Arc::new(Vault::new(KeyRing::from_keys(
            KeyRing::generate_key(),
            vec![],
        )));
        let registry = Registry::connect(&url, vault).await.unwrap();
        registry.migrate().await.unwrap();
        let tenant = |sub: &str| NewTenant {
            id: TenantId::new(),
            subdomain: Subdomain::parse(sub, &[]).unwrap(),
            name: sub.to_owned(),
            plan: tenantry_core::PlanId::parse("free").unwrap(),
            server: None,
            db_name: format!("t_{sub}_00000000"),
            db_user: None,
            db_password: None,
            storage_limit_mb: None,
        };
        let a = registry.reserve_tenant(tenant("acme")).await.unwrap();
        let b = registry.reserve_tenant(tenant("beta")).await.unwrap();
        let domain = DomainName::parse("books.acme.com").unwrap();

        registry
            .add_tenant_domain(a.id, &domain, false)
            .await
            .unwrap();
        assert!(
            registry
                .live_tenant_by_domain("books.acme.com")
                .await
                .unwrap()
                .is_none(),
            "{dialect:?}: an unverified domain routes nowhere"
        );
        assert!(matches!(
            registry.add_tenant_domain(b.id, &domain, true).await,
            Err(RegistryError::Conflict { .. })
        ));
        registry.verify_tenant_domain(&domain).await.unwrap();
        let routed = registry
            .live_tenant_by_domain("books.acme.com")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(routed.id, a.id, "{dialect:?}");

        registry
            .set_tenant_status(a.id, TenantStatus::Deleted, None)
            .await
            .unwrap();
        assert!(registry.tenant_domains(a.id).await.unwrap().is_empty());
        assert!(
            registry
                .live_tenant_by_domain("books.acme.com")
                .await
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            registry.add_tenant_domain(a.id, &domain, true).await,
            Err(RegistryError::NotFound { .. })
        ));
        registry
            .add_tenant_domain(b.id, &domain, true)
            .await
            .unwrap();
        let routed = registry
            .live_tenant_by_domain("books.acme.com")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            routed.id, b.id,
            "{dialect:?}: released, then taken by another"
        );
    }
}
