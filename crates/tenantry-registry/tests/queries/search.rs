//! Tenant search: substrings matched case-insensitively, wildcards taken literally, status and plan filters.

use tenantry_core::PlanId;
use tenantry_registry::{Registry, TenantQuery, TenantStatus};
use tenantry_test_utils::{Dialect, TestDb};

use super::support::{add, cli, entry, plan, registry};

fn search(text: &str) -> TenantQuery {
    TenantQuery {
        search: Some(text.to_owned()),
        page: 1,
        limit: 100,
        ..TenantQuery::default()
    }
}

async fn subdomains(registry: &Registry, query: &TenantQuery) -> Vec<String> {
    let page = registry.search_tenants(query).await.unwrap();
    page.tenants
        .iter()
        .map(|t| t.subdomain.to_string())
        .collect()
}

#[tokio::test]
async fn search_matches_substrings_case_insensitively_and_takes_wildcards_literally() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let registry = registry(&db).await;
        add(&registry, "acme", "Acme Corp", "free").await;
        add(&registry, "acme-two", "Second", "standard").await;
        add(&registry, "beta", "Beta 50% Off", "free").await;
        add(&registry, "x50y", "Plain", "free").await;
        add(&registry, "gamma", "Gamma_Rays", "premium").await;
        add(&registry, "delta", "Back\\slash", "premium").await;

        let found = |q: &'static str| {
            let registry = registry.clone();
            async move { subdomains(&registry, &search(q)).await }
        };
        assert_eq!(found("ACME").await, ["acme", "acme-two"], "{dialect:?}");
        assert_eq!(found("corp").await, ["acme"], "{dialect:?}");
        assert_eq!(found("cme-T").await, ["acme-two"], "{dialect:?}");
        assert_eq!(found("50%").await, ["beta"], "{dialect:?}: '%' is literal");
        assert_eq!(found("_").await, ["gamma"], "{dialect:?}: '_' is literal");
        assert_eq!(found("a_r").await, ["gamma"], "{dialect:?}");
        assert_eq!(
            found("k\\s").await,
            ["delta"],
            "{dialect:?}: '\\' is literal"
        );
        assert!(found("%").await.contains(&"beta".to_owned()));
        assert_eq!(found("%").await.len(), 1, "{dialect:?}");
        assert!(found("nothing").await.is_empty(), "{dialect:?}");
        // An empty search is no filter.
        assert_eq!(found("").await.len(), 6, "{dialect:?}");
    }
}

#[tokio::test]
async fn search_filters_by_status_and_plan() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let registry = registry(&db).await;
        let a = add(&registry, "acme", "Acme", "free").await;
        let b = add(&registry, "beta", "Beta", "premium").await;
        add(&registry, "gamma", "Gamma", "premium").await;
        registry
            .set_tenant_status(
                a.id,
                TenantStatus::Suspended,
                Some("unpaid".into()),
                entry(cli(), "tenant.suspend", Some(a.id)),
            )
            .await
            .unwrap();
        registry
            .set_tenant_status(
                b.id,
                TenantStatus::Deleted,
                None,
                entry(cli(), "tenant.delete", Some(b.id)),
            )
            .await
            .unwrap();

        let all = |status, plan| TenantQuery {
            status,
            plan,
            page: 1,
            limit: 10,
            ..TenantQuery::default()
        };
        assert_eq!(
            subdomains(&registry, &all(None, None)).await,
            ["acme", "gamma"],
            "{dialect:?}: live only by default"
        );
        let deleted = all(Some(TenantStatus::Deleted), None);
        assert_eq!(subdomains(&registry, &deleted).await, ["beta"]);
        let suspended = all(Some(TenantStatus::Suspended), None);
        assert_eq!(subdomains(&registry, &suspended).await, ["acme"]);
        let premium = all(None, Some(plan("premium")));
        assert_eq!(subdomains(&registry, &premium).await, ["gamma"]);
        let none = all(Some(TenantStatus::Active), Some(plan("free")));
        assert!(subdomains(&registry, &none).await.is_empty());

        let counts = registry.tenant_counts().await.unwrap();
        let mut expected = vec![
            (TenantStatus::Deleted, plan("premium"), 1),
            (TenantStatus::Provisioning, plan("premium"), 1),
            (TenantStatus::Suspended, plan("free"), 1),
        ];
        let key = |c: &(TenantStatus, PlanId, u64)| format!("{:?} {}", c.0, c.1);
        expected.sort_by_key(key);
        let mut counts_sorted = counts.clone();
        counts_sorted.sort_by_key(key);
        assert_eq!(counts_sorted, expected, "{dialect:?}");
    }
}
