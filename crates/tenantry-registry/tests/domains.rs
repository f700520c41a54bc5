//! Custom domains in the registry: one owner at a time, only verified ones route, deletion
//! releases them; operators' claims, verifications and removals are audited in their own
//! transaction. Both dialects.

use std::sync::Arc;

use serde_json::json;
use tenantry_core::settings::DatabaseUrl;
use tenantry_core::vault::{KeyRing, Vault};
use tenantry_core::{DomainName, Subdomain, TenantId};
use tenantry_registry::{
    Actor, AuditEntry, AuditQuery, NewDomain, NewTenant, Registry, RegistryError, TenantStatus,
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

fn tenant(sub: &str) -> NewTenant {
    NewTenant {
        id: TenantId::new(),
        subdomain: Subdomain::parse(sub, &[]).unwrap(),
        name: sub.to_owned(),
        plan: tenantry_core::PlanId::parse("free").unwrap(),
        server: None,
        db_name: format!("t_{sub}_00000000"),
        db_user: None,
        db_password: None,
        storage_limit_mb: None,
    }
}

#[tokio::test]
async fn custom_domains_route_once_verified_and_are_released_on_delete() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let registry = registry(&db).await;
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
            .set_tenant_status(a.id, TenantStatus::Deleted, None, deletion(a.id))
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

/// The audit row a deletion is written with.
fn deletion(tenant: TenantId) -> tenantry_registry::AuditEntry {
    tenantry_registry::Origin::from(tenantry_registry::Actor::System).entry(
        "tenant.delete",
        Some(tenant),
        serde_json::json!({}),
    )
}

fn entry(action: &'static str, tenant: TenantId, domain: &DomainName) -> AuditEntry {
    let origin = tenantry_registry::Origin::from(Actor::Cli {
        user: "test".into(),
    });
    origin.entry(action, Some(tenant), json!({ "domain": domain.as_str() }))
}

/// How many audit rows `action` has.
async fn audited(registry: &Registry, action: &str) -> u64 {
    let query = AuditQuery {
        action: Some(action.into()),
        page: 1,
        limit: 100,
        ..AuditQuery::default()
    };
    registry.list_audit(&query).await.unwrap().total
}

async fn routed_to(registry: &Registry, domain: &str) -> Option<TenantId> {
    let tenant = registry.live_tenant_by_domain(domain).await.unwrap();
    tenant.map(|t| t.id)
}

#[tokio::test]
async fn claims_are_audited_verified_by_their_token_and_removed() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let registry = registry(&db).await;
        let a = registry.reserve_tenant(tenant("acme")).await.unwrap().id;
        let b = registry.reserve_tenant(tenant("beta")).await.unwrap().id;
        let books = DomainName::parse("books.acme.com").unwrap();
        let claim = |tenant: TenantId, domain: &DomainName, token: &str| NewDomain {
            tenant,
            domain: domain.clone(),
            verification_token: token.into(),
            max_per_tenant: 2,
        };

        let added = registry
            .claim_domain(claim(a, &books, "tok-a"), entry("domain.add", a, &books))
            .await
            .unwrap();
        assert!(!added.is_verified(), "{dialect:?}");
        let stored = registry.tenant_domain(a, &books).await.unwrap().unwrap();
        assert_eq!(stored.verification_token.as_deref(), Some("tok-a"));
        assert_eq!(audited(&registry, "domain.add").await, 1, "{dialect:?}");
        assert_eq!(routed_to(&registry, "books.acme.com").await, None);

        // Refused claims change nothing, their audit row included.
        let taken = registry
            .claim_domain(claim(b, &books, "tok-b"), entry("domain.add", b, &books))
            .await;
        assert!(
            matches!(taken, Err(RegistryError::Conflict { .. })),
            "{taken:?}"
        );
        let shop = DomainName::parse("shop.acme.com").unwrap();
        registry
            .claim_domain(claim(a, &shop, "tok-s"), entry("domain.add", a, &shop))
            .await
            .unwrap();
        let third = DomainName::parse("third.acme.com").unwrap();
        let over = registry
            .claim_domain(claim(a, &third, "tok-t"), entry("domain.add", a, &third))
            .await;
        assert!(
            matches!(over, Err(RegistryError::Invalid { .. })),
            "{over:?}"
        );
        assert_eq!(audited(&registry, "domain.add").await, 2, "{dialect:?}");

        // Only the owner's claim with the token seen in DNS is verified, once.
        for (tenant, token) in [(a, "tok-b"), (b, "tok-a")] {
            let wrong = registry
                .mark_domain_verified(
                    tenant,
                    &books,
                    token,
                    entry("domain.verify", tenant, &books),
                )
                .await;
            assert!(
                matches!(wrong, Err(RegistryError::NotFound { .. })),
                "{wrong:?}"
            );
        }
        assert_eq!(routed_to(&registry, "books.acme.com").await, None);
        for _ in 0..2 {
            let verified = registry
                .mark_domain_verified(a, &books, "tok-a", entry("domain.verify", a, &books))
                .await
                .unwrap();
            assert!(verified.is_verified());
        }
        assert_eq!(audited(&registry, "domain.verify").await, 1, "{dialect:?}");
        assert_eq!(routed_to(&registry, "books.acme.com").await, Some(a));

        // Removal: only through the owner, audited, and the domain stops routing.
        let before = registry.latest_change_id().await.unwrap();
        let not_b = registry
            .remove_domain(b, &books, entry("domain.remove", b, &books))
            .await;
        assert!(
            matches!(not_b, Err(RegistryError::NotFound { .. })),
            "{not_b:?}"
        );
        registry
            .remove_domain(a, &books, entry("domain.remove", a, &books))
            .await
            .unwrap();
        assert_eq!(audited(&registry, "domain.remove").await, 1, "{dialect:?}");
        assert_eq!(routed_to(&registry, "books.acme.com").await, None);
        let changes = registry.changes_since(before, 10).await.unwrap().changes;
        assert_eq!(
            changes.len(),
            1,
            "{dialect:?}: one change for the one removal"
        );
        assert_eq!(changes[0].tenant, a);
        let names: Vec<String> = registry
            .tenant_domains(a)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.domain.to_string())
            .collect();
        assert_eq!(names, ["shop.acme.com"]);

        // A deleted tenant claims nothing.
        registry
            .set_tenant_status(a, TenantStatus::Deleted, None, deletion(a))
            .await
            .unwrap();
        let gone = registry
            .claim_domain(claim(a, &books, "tok-x"), entry("domain.add", a, &books))
            .await;
        assert!(
            matches!(gone, Err(RegistryError::NotFound { .. })),
            "{gone:?}"
        );
    }
}
