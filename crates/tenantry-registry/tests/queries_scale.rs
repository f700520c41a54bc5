//! The admin API's tenant search over a fleet of 10,000 (issue #17): totals, filters, page
//! boundaries and a full cursor walk, against an expectation computed here from the rows as
//! inserted. PostgreSQL only: the rows are bulk-inserted in one statement, and that is the
//! dialect of a master with that many tenants.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use sqlx::{Connection as _, PgConnection};
use tenantry_core::PlanId;
use tenantry_core::settings::DatabaseUrl;
use tenantry_core::vault::{KeyRing, Vault};
use tenantry_registry::{Registry, TenantQuery, TenantStatus};
use tenantry_test_utils::TestDb;
use uuid::Uuid;

const FLEET: usize = 10_000;
const WORDS: [&str; 7] = ["amber", "birch", "cedar", "dune", "ember", "fjord", "grove"];

/// One seeded tenant, as the expectation sees it.
struct Seeded {
    id: Uuid,
    subdomain: String,
    name: String,
    status: TenantStatus,
    plan: &'static str,
    created_at: DateTime<Utc>,
}

fn status_of(i: usize) -> TenantStatus {
    match i % 20 {
        0 | 7 => TenantStatus::Suspended,
        3 => TenantStatus::Deleted,
        11 => TenantStatus::Failed,
        15 => TenantStatus::Provisioning,
        _ => TenantStatus::Active,
    }
}

fn status_text(s: TenantStatus) -> &'static str {
    match s {
        TenantStatus::Provisioning => "provisioning",
        TenantStatus::Active => "active",
        TenantStatus::Suspended => "suspended",
        TenantStatus::Failed => "failed",
        TenantStatus::Deleted => "deleted",
    }
}

/// `n` tenants with mixed statuses and plans. Creation times are a permutation of the ids'
/// order, two tenants to a millisecond, so the id decides between ties and the listing order is
/// not the insertion order.
fn fleet(n: usize) -> Vec<Seeded> {
    let base = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    (0..n)
        .map(|i| {
            let word = WORDS[i % WORDS.len()];
            let other = WORDS[(i / WORDS.len()) % WORDS.len()];
            let slot = (i * 7919) % n;
            Seeded {
                id: Uuid::now_v7(),
                subdomain: format!("{word}-{i:05}"),
                name: format!("{}{} Trading {i}", other[..1].to_uppercase(), &other[1..]),
                status: status_of(i),
                plan: ["free", "standard", "premium"][(i / 5) % 3],
                created_at: base + Duration::milliseconds((slot / 2) as i64),
            }
        })
        .collect()
}

async fn seed(db: &TestDb, rows: &[Seeded]) {
    let mut conn = PgConnection::connect(db.url()).await.unwrap();
    sqlx::query(
        "INSERT INTO tenants (id, subdomain, name, status, plan_id, db_name, created_at, \
         updated_at, deleted_at) \
         SELECT id, subdomain, name, status, plan_id, 't_' || replace(subdomain, '-', '_'), \
                created_at, created_at, CASE WHEN status = 'deleted' THEN created_at END \
         FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], \
                     $6::timestamptz[]) AS t(id, subdomain, name, status, plan_id, created_at)",
    )
    .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.subdomain.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.name.clone()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| status_text(r.status))
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.plan).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.created_at).collect::<Vec<_>>())
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query("ANALYZE tenants")
        .execute(&mut conn)
        .await
        .unwrap();
}

/// The ids `query` should list, in order (creation time, then id), ignoring paging.
fn expected(rows: &[Seeded], query: &TenantQuery) -> Vec<Uuid> {
    let needle = query.search.as_deref().map(str::to_lowercase);
    let mut hits: Vec<&Seeded> = rows
        .iter()
        .filter(|r| match query.status {
            Some(s) => r.status == s,
            None => r.status != TenantStatus::Deleted,
        })
        .filter(|r| query.plan.as_ref().is_none_or(|p| p.as_str() == r.plan))
        .filter(|r| {
            needle.as_deref().is_none_or(|n| {
                r.subdomain.to_lowercase().contains(n) || r.name.to_lowercase().contains(n)
            })
        })
        .collect();
    hits.sort_by_key(|r| (r.created_at, r.id));
    hits.into_iter().map(|r| r.id).collect()
}

fn ids(page: &tenantry_registry::TenantPage) -> Vec<Uuid> {
    page.tenants.iter().map(|t| t.id.as_uuid()).collect()
}

/// Every tenant `query` matches, by cursor; checks each page's total and that the walk ends.
async fn walk(registry: &Registry, query: &TenantQuery, total: usize) -> Vec<Uuid> {
    let mut query = query.clone();
    let mut seen = Vec::new();
    loop {
        let page = registry.search_tenants(&query).await.unwrap();
        assert_eq!(page.total as usize, total, "the total ignores the cursor");
        seen.extend(ids(&page));
        assert!(seen.len() <= total, "the walk went past every match");
        match page.next {
            Some(next) => query.after = Some(next.to_string().parse().unwrap()),
            None => return seen,
        }
    }
}

fn query(status: Option<TenantStatus>, plan: Option<&str>, search: Option<&str>) -> TenantQuery {
    TenantQuery {
        search: search.map(str::to_owned),
        status,
        plan: plan.map(|p| PlanId::parse(p).unwrap()),
        page: 1,
        limit: 50,
        after: None,
    }
}

#[tokio::test]
async fn search_filters_pages_and_cursors_hold_over_ten_thousand_tenants() {
    let db = TestDb::postgres().await;
    let vault = Arc::new(Vault::new(KeyRing::from_keys(
        KeyRing::generate_key(),
        vec![],
    )));
    let registry = Registry::connect(&DatabaseUrl::parse(db.url()).unwrap(), vault)
        .await
        .unwrap();
    registry.migrate().await.unwrap();
    let rows = fleet(FLEET);
    seed(&db, &rows).await;

    // Every live tenant, page by page: boundaries, the last page (full with 50 a page, part
    // full with 70), and past it.
    let live = expected(&rows, &query(None, None, None));
    assert!(live.len().is_multiple_of(50) && !live.len().is_multiple_of(70));
    for limit in [50, 70] {
        let last = live.len().div_ceil(limit) as u64;
        for page_no in [1, 2, 100, last - 1, last, last + 1] {
            let q = TenantQuery {
                page: page_no,
                limit: limit as u64,
                ..query(None, None, None)
            };
            let page = registry.search_tenants(&q).await.unwrap();
            let from = (page_no as usize - 1) * limit;
            let want = &live[from.min(live.len())..(from + limit).min(live.len())];
            let what = format!("page {page_no} of {limit}");
            assert_eq!(page.total as usize, live.len(), "{what}");
            assert_eq!(ids(&page), want, "{what}");
            assert_eq!(page.next.is_some(), page_no < last, "{what}: next");
        }
    }

    // The whole fleet by cursor, once each, in the same order as the pages.
    let walked = walk(&registry, &query(None, None, None), live.len()).await;
    assert_eq!(walked, live);
    assert_eq!(walked.iter().collect::<HashSet<_>>().len(), live.len());

    // Filters alone and together: totals, first pages, and a walk of each filtered set.
    let statuses = [
        TenantStatus::Provisioning,
        TenantStatus::Active,
        TenantStatus::Suspended,
        TenantStatus::Failed,
        TenantStatus::Deleted,
    ];
    let mut cases: Vec<TenantQuery> = statuses
        .iter()
        .map(|s| query(Some(*s), None, None))
        .collect();
    for plan in ["free", "standard", "premium"] {
        cases.push(query(None, Some(plan), None));
    }
    cases.extend([
        query(None, None, Some("CEDAR")),
        query(None, None, Some("00042")),
        query(None, None, Some("no such tenant")),
        query(
            Some(TenantStatus::Suspended),
            Some("premium"),
            Some("fjord"),
        ),
    ]);
    for q in &cases {
        let want = expected(&rows, q);
        let what = format!("{:?} {:?} {:?}", q.status, q.plan, q.search);
        let first = registry.search_tenants(q).await.unwrap();
        assert_eq!(first.total as usize, want.len(), "{what}: total");
        assert_eq!(ids(&first), &want[..want.len().min(50)], "{what}: page 1");
        let walk_query = TenantQuery {
            limit: 100,
            ..q.clone()
        };
        assert_eq!(
            walk(&registry, &walk_query, want.len()).await,
            want,
            "{what}: walk"
        );
    }
    // The filters are not vacuous: each selects a part of the fleet, and the parts add up.
    let totals: Vec<usize> = cases.iter().map(|q| expected(&rows, q).len()).collect();
    assert!(totals[..8].iter().all(|&n| n > 300), "{totals:?}");
    assert_eq!(totals[..5].iter().sum::<usize>(), FLEET);
    assert_eq!(totals[5..8].iter().sum::<usize>(), live.len());
    assert!(totals[8] > 1_000 && totals[9] == 1 && totals[10] == 0 && totals[11] > 10);
}
