//! Custom domains: a verified domain routes to its tenant; an unverified or unknown one to nobody.

use serde_json::Value;
use tenantry_test_utils::Dialect;

use super::support::host;
use crate::common::{TestApp, assert_error, unique};

/// A verified custom domain serves its tenant like the subdomain does; an unverified or unknown
/// domain is nobody's; a token still only works on the tenant it names.
#[tokio::test(flavor = "multi_thread")]
async fn verified_custom_domains_route_to_their_tenant() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    let (a, b) = (unique("dom-a"), unique("dom-b"));
    let tenant_a = app.create(&a).await;
    let tenant_b = app.create(&b).await;
    let (token_a, token_b) = (app.login(&a).await, app.login(&b).await);
    let verified = tenantry_core::DomainName::parse(&format!("Books.{a}.test")).unwrap();
    let pending = tenantry_core::DomainName::parse(&format!("books.{b}.test")).unwrap();
    app.registry
        .add_tenant_domain(tenant_a.id, &verified, true)
        .await
        .unwrap();
    app.registry
        .add_tenant_domain(tenant_b.id, &pending, false)
        .await
        .unwrap();

    let ledgers = |host: String, token: String| {
        app.get(&host, "/api/v1/ledgers?limit=1")
            .bearer_auth(token)
            .send()
    };
    let res = ledgers(format!("books.{a}.test"), token_a.clone())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let via_domain: Value = res.json().await.unwrap();
    let via_subdomain: Value = ledgers(host(&a), token_a.clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(via_domain["total"], via_subdomain["total"]);

    // B's token on A's domain is B's token on A.
    assert_error(
        ledgers(format!("BOOKS.{a}.TEST."), token_b.clone())
            .await
            .unwrap(),
        403,
        "wrong_tenant",
    )
    .await;
    // Claimed but not verified: routes nowhere, even with the owner's token.
    assert_error(
        ledgers(format!("books.{b}.test"), token_b).await.unwrap(),
        404,
        "tenant_not_found",
    )
    .await;
    assert_error(
        ledgers("unknown.example.org".into(), token_a)
            .await
            .unwrap(),
        404,
        "tenant_not_found",
    )
    .await;
}
