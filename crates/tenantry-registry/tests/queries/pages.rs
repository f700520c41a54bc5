//! Tenant search pages: totals over every match and a keyset cursor walk visiting each tenant once.

use std::collections::BTreeSet;

use sea_orm::ConnectionTrait;
use tenantry_registry::{RegistryError, TenantCursor, TenantQuery};
use tenantry_test_utils::{Dialect, TestDb};

use super::support::{add, registry};

#[tokio::test]
async fn pages_count_every_match_and_a_cursor_walk_visits_each_tenant_once() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let registry = registry(&db).await;
        let mut ids = BTreeSet::new();
        for i in 0..7 {
            ids.insert(add(&registry, &format!("t-{i}"), "Same", "free").await.id);
        }
        // Ties on created_at: the id breaks them.
        let conn = registry.connection();
        conn.execute_unprepared(
            "UPDATE tenants SET created_at = (SELECT MIN(created_at) FROM tenants) \
             WHERE subdomain IN ('t-2', 't-3', 't-4')",
        )
        .await
        .unwrap();

        let page = |page| TenantQuery {
            page,
            limit: 3,
            ..TenantQuery::default()
        };
        let first = registry.search_tenants(&page(1)).await.unwrap();
        assert_eq!((first.tenants.len(), first.total), (3, 7), "{dialect:?}");
        assert!(first.next.is_some());
        let third = registry.search_tenants(&page(3)).await.unwrap();
        assert_eq!((third.tenants.len(), third.total), (1, 7), "{dialect:?}");
        assert!(
            third.next.is_none(),
            "{dialect:?}: the last page has no next"
        );
        let beyond = registry.search_tenants(&page(4)).await.unwrap();
        assert_eq!((beyond.tenants.len(), beyond.total), (0, 7));

        // Page by page, and by cursor, give the same order.
        let mut by_page = Vec::new();
        for n in 1..=3 {
            let got = registry.search_tenants(&page(n)).await.unwrap();
            by_page.extend(got.tenants.into_iter().map(|t| t.id));
        }
        let mut walked = Vec::new();
        let mut query = TenantQuery {
            limit: 2,
            page: 1,
            ..TenantQuery::default()
        };
        loop {
            let got = registry.search_tenants(&query).await.unwrap();
            assert_eq!(got.total, 7, "{dialect:?}: total ignores the cursor");
            walked.extend(got.tenants.iter().map(|t| t.id));
            match got.next {
                // Clients hold the cursor as text.
                Some(next) => query.after = Some(next.to_string().parse().unwrap()),
                None => break,
            }
            assert!(walked.len() <= 7, "{dialect:?}: the walk does not end");
        }
        assert_eq!(walked, by_page, "{dialect:?}");
        assert_eq!(walked.len(), 7, "{dialect:?}");
        assert_eq!(walked.iter().copied().collect::<BTreeSet<_>>(), ids);

        assert!(matches!(
            "not-a-cursor".parse::<TenantCursor>(),
            Err(RegistryError::Invalid { .. })
        ));
        assert!(matches!(
            registry.search_tenants(&page(0)).await,
            Err(RegistryError::Invalid { .. })
        ));
    }
}
