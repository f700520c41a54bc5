//! `GET /admin/v1/tenants/{id}/health`: what it reports, and that callers cannot make it open
//! tenant connections at will (concurrent asks share one probe; an answer is reused for 2 s).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::admin::APEX;
use common::{TestApp, unique};
use serde_json::Value;
use tenantry_test_utils::Dialect;

async fn health(app: &TestApp, token: &str, tenant: &str) -> (u16, Value) {
    let res = app
        .get(APEX, &format!("/admin/v1/tenants/{tenant}/health"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

async fn reports_the_database_as_its_own_role_sees_it(dialect: Dialect) {
    let app = TestApp::spawn(dialect).await;
    let token = app.admin_token("viewer").await;
    let subdomain = unique("health");
    let tenant = app.create(&subdomain).await;

    let (status, body) = health(&app, &token, &subdomain).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tenant"], tenant.id.to_string(), "{body}");
    assert_eq!(body["database_accessible"], true, "{body}");
    assert_eq!(
        body["schema_version"],
        tenant.schema_version.unwrap(),
        "{body}"
    );
    assert!(body["last_query_time_ms"].as_f64().unwrap() > 0.0, "{body}");
    assert!(body["storage_used_mb"].as_f64().unwrap() > 0.0, "{body}");
    assert!(body["connection_pool_status"].is_object(), "{body}");

    let reason = "unpaid";
    let origin = tenantry_registry::Origin::from(tenantry_registry::Actor::System);
    let tenant_ref = tenantry_core::TenantRef::Id(tenant.id);
    app.provisioner
        .suspend(&tenant_ref, reason, &origin)
        .await
        .unwrap();
    let (status, body) = health(&app, &token, &subdomain).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "suspended", "{body}");
    assert_eq!(body["database_accessible"], false, "{body}");
    assert_eq!(body["error"], "the tenant is not active", "{body}");

    let (status, _) = health(&app, &token, "no-such-tenant").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn reports_the_database_sqlite() {
    reports_the_database_as_its_own_role_sees_it(Dialect::Sqlite).await;
}

#[tokio::test]
async fn reports_the_database_postgres() {
    reports_the_database_as_its_own_role_sees_it(Dialect::Postgres).await;
}

/// 40 asks at once and 40 more in a row get one probe's answer (the same query time to the
/// nanosecond); after 2 s the next ask probes again. Meanwhile the tenant answers its users.
#[tokio::test]
async fn asks_share_one_probe_and_reuse_it_briefly() {
    let app = Arc::new(TestApp::spawn(Dialect::Postgres).await);
    let token = app.admin_token("viewer").await;
    let subdomain = unique("probe");
    app.create(&subdomain).await;
    let user = app.login(&subdomain).await;
    let host = format!("{subdomain}.localhost");

    let asks = (0..40).map(|_| {
        let (app, token, subdomain) = (app.clone(), token.clone(), subdomain.clone());
        tokio::spawn(async move { health(&app, &token, &subdomain).await })
    });
    let mut times = Vec::new();
    for ask in futures::future::join_all(asks).await {
        let (status, body) = ask.unwrap();
        assert_eq!(status, 200, "{body}");
        times.push(body["last_query_time_ms"].as_f64().unwrap());
    }
    for _ in 0..40 {
        let (_, body) = health(&app, &token, &subdomain).await;
        times.push(body["last_query_time_ms"].as_f64().unwrap());
    }
    assert!(times.iter().all(|t| *t == times[0]), "{times:?}");
    let res = app
        .get(&host, "/api/v1/ledgers")
        .bearer_auth(&user)
        .send()
        .await;
    assert_eq!(res.unwrap().status(), 200);

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (_, body) = health(&app, &token, &subdomain).await;
    let fresh = body["last_query_time_ms"].as_f64().unwrap();
    assert_ne!(fresh, times[0], "probed again once the answer is 2 s old");
}
