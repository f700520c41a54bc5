//! Plan rate limits: a tenant over its plan's `requests_per_minute` gets 429 with `Retry-After`
//! while another tenant's requests get their normal answers; a plan change reaches every `serve`
//! within a second.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{TestApp, assert_error, time_until, unique};
use sea_orm::ConnectionTrait as _;
use tenantry_core::{PlanId, TenantRef};
use tenantry_ops::{Caller, TenantChanges};
use tenantry_registry::Tenant;
use tenantry_test_utils::Dialect;

/// The test plan's requests per minute: one request refills every 12 s, far longer than a test
/// takes to spend the quota and check the refusal.
const TINY: u32 = 5;

/// Adds plan `id` (`per_minute` requests per minute) to the test master.
async fn add_plan(app: &TestApp, id: &str, per_minute: u32) {
    app.registry
        .connection()
        .execute_unprepared(&format!(
            "INSERT INTO plans \
             (id, name, max_connections, storage_limit_mb, max_users, requests_per_minute, features) \
             VALUES ('{id}', '{id}', 2, 100, 5, {per_minute}, '{{}}')"
        ))
        .await
        .unwrap();
}

/// A tenant on `plan`, already in the server's directory (not answered by a direct lookup).
async fn create_on_plan(app: &TestApp, sub: &str, plan: &str) -> (Tenant, String, String) {
    let tenant = app
        .provisioner
        .create(tenantry_provision::CreateTenant {
            plan: PlanId::parse(plan).unwrap(),
            ..common::request(sub)
        })
        .await
        .unwrap()
        .tenant;
    app.state.directory.refresh(tenant.id).await.unwrap();
    let token = app.token(&tenant);
    (tenant, format!("{sub}.localhost"), token)
}

async fn ledgers(app: &TestApp, addr: SocketAddr, host: &str, token: &str) -> reqwest::Response {
    app.get_at(addr, host, "/api/v1/ledgers?limit=1")
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn status(app: &TestApp, addr: SocketAddr, host: &str, token: &str) -> u16 {
    ledgers(app, addr, host, token).await.status().as_u16()
}

/// A 429 `too_many_requests` whose `Retry-After` is within one refill of a `per_minute` quota.
async fn refused(res: reqwest::Response, per_minute: u32) {
    let retry_after: u64 = res
        .headers()
        .get("retry-after")
        .expect("Retry-After on a 429")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_error(res, 429, "too_many_requests").await;
    let refill = u64::from(60 / per_minute);
    assert!((1..=refill).contains(&retry_after), "{retry_after}");
}

async fn a_tenant_over_its_quota_gets_429_and_others_are_unaffected(dialect: Dialect) {
    let app = TestApp::spawn(dialect).await;
    add_plan(&app, "tiny", TINY).await;
    let (tiny, tiny_host, tiny_token) = create_on_plan(&app, &unique("tiny"), "tiny").await;
    let (twin, twin_host, twin_token) = create_on_plan(&app, &unique("twin"), "tiny").await;
    let (_, busy_host, busy_token) = create_on_plan(&app, &unique("busy"), "standard").await;
    let here = app.addr;

    for i in 0..TINY {
        let res = ledgers(&app, here, &tiny_host, &tiny_token).await;
        assert_eq!(res.status(), 200, "request {i} of {TINY}");
    }
    refused(ledgers(&app, here, &tiny_host, &tiny_token).await, TINY).await;
    // Refused before the token is checked or the body read.
    let anonymous = app.get(&tiny_host, "/api/v1/ledgers").send().await.unwrap();
    refused(anonymous, TINY).await;

    // The same test: another tenant on a larger plan keeps its normal answers while the first
    // one is refused, concurrently.
    let busy =
        futures::future::join_all((0..100).map(|_| status(&app, here, &busy_host, &busy_token)));
    let blocked =
        futures::future::join_all((0..20).map(|_| status(&app, here, &tiny_host, &tiny_token)));
    let (busy, blocked) = tokio::join!(busy, blocked);
    assert!(busy.iter().all(|s| *s == 200), "{busy:?}");
    assert!(blocked.iter().all(|s| *s == 429), "{blocked:?}");

    // Its own quota per tenant, not per plan.
    for i in 0..TINY {
        let res = ledgers(&app, here, &twin_host, &twin_token).await;
        assert_eq!(res.status(), 200, "twin request {i} of {TINY}");
    }
    refused(ledgers(&app, here, &twin_host, &twin_token).await, TINY).await;

    // Refreshing an entry (any registry change) keeps its bucket: no fresh quota.
    app.state
        .ops
        .update_tenant(
            &Caller::cli(),
            &TenantRef::Id(twin.id),
            TenantChanges {
                name: Some("Renamed".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    app.state.directory.refresh(twin.id).await.unwrap();
    app.state.directory.refresh(tiny.id).await.unwrap();
    refused(ledgers(&app, here, &twin_host, &twin_token).await, TINY).await;
    refused(ledgers(&app, here, &tiny_host, &tiny_token).await, TINY).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_over_its_quota_gets_429_and_others_are_unaffected_sqlite() {
    a_tenant_over_its_quota_gets_429_and_others_are_unaffected(Dialect::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_over_its_quota_gets_429_and_others_are_unaffected_postgres() {
    a_tenant_over_its_quota_gets_429_and_others_are_unaffected(Dialect::Postgres).await;
}

async fn change_plan(app: &TestApp, tenant: &Tenant, plan: &str) {
    let view = app
        .state
        .ops
        .update_tenant(
            &Caller::cli(),
            &TenantRef::Id(tenant.id),
            TenantChanges {
                plan: Some(plan.into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let view = serde_json::to_value(view).unwrap();
    assert_eq!(view["plan"], plan, "{view}");
}

/// A request that needs no tenant database (an unknown route: 404 unless refused), so the time
/// measured is the limit's, not a tenant pool's (a plan change also closes the tenant's pools).
async fn probe(app: &TestApp, addr: SocketAddr, host: &str) -> u16 {
    let res = app.get_at(addr, host, "/api/v1/no-such-route");
    res.send().await.unwrap().status().as_u16()
}

/// Polls both servers together until each answers `want`; the slower one's wait.
async fn seen_everywhere(app: &TestApp, other: SocketAddr, host: &str, want: u16) -> Duration {
    let (here, there) = tokio::join!(
        time_until(want, || probe(app, app.addr, host)),
        time_until(want, || probe(app, other, host)),
    );
    eprintln!("{host}: {want} after {here:?} here, {there:?} on the other instance");
    here.max(there)
}

async fn a_plan_change_reaches_every_serve_within_a_second(dialect: Dialect) {
    let app = TestApp::spawn(dialect).await;
    add_plan(&app, "single", 1).await;
    let other = app.second_instance();
    let (tenant, host, token) = create_on_plan(&app, &unique("plan"), "standard").await;
    // Both instances know the tenant (the other one through its feed).
    seen_everywhere(&app, other.addr, &host, 404).await;
    for addr in [app.addr, other.addr] {
        assert_eq!(status(&app, addr, &host, &token).await, 200);
    }

    // Downgrade: the small quota is enforced everywhere within a second (one request a minute:
    // the second request after the change is refused).
    change_plan(&app, &tenant, "single").await;
    let took = seen_everywhere(&app, other.addr, &host, 429).await;
    assert!(took < Duration::from_secs(1), "the new plan took {took:?}");
    for addr in [app.addr, other.addr] {
        refused(ledgers(&app, addr, &host, &token).await, 1).await;
    }

    // Upgrade: a new bucket with the larger quota, everywhere within a second.
    change_plan(&app, &tenant, "premium").await;
    let took = seen_everywhere(&app, other.addr, &host, 404).await;
    assert!(took < Duration::from_secs(1), "the new plan took {took:?}");
    for addr in [app.addr, other.addr] {
        for _ in 0..20 {
            assert_eq!(status(&app, addr, &host, &token).await, 200);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_change_reaches_every_serve_within_a_second_sqlite() {
    a_plan_change_reaches_every_serve_within_a_second(Dialect::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_change_reaches_every_serve_within_a_second_postgres() {
    a_plan_change_reaches_every_serve_within_a_second(Dialect::Postgres).await;
}
