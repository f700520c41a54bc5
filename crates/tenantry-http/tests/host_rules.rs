//! Which names may serve a tenant. Only `<tenant>.<base_domain>` (or a verified custom domain)
//! does; the apex (the admin host) and nested names never do, not even with `X-Tenant-Id`; an
//! absolute-form request target decides over `Host`, and one that disagrees with it is refused.

mod common;

use common::{TestApp, unique};
use tenantry_test_utils::Dialect;

#[tokio::test(flavor = "multi_thread")]
async fn apex_and_nested_names_never_serve_a_tenant() {
    let app = TestApp::spawn_with(Dialect::Sqlite, |s| s.server.tenant_header = true).await;
    let sub = unique("acme");
    let tenant = app.create(&sub).await;
    let token = app.token(&tenant);
    let id = tenant.id.to_string();
    // The header still works where it is meant to: an IP literal (an internal caller).
    let res = app
        .client
        .get(app.url("/api/v1/ledgers?limit=1"))
        .bearer_auth(&token)
        .header("x-tenant-id", &id)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "X-Tenant-Id on an IP host");
    for host in [
        "localhost".to_owned(),
        format!("x.{sub}.localhost"),
        format!("a.b.{sub}.localhost"),
    ] {
        let res = app
            .get(&host, "/api/v1/ledgers?limit=1")
            .bearer_auth(&token)
            .header("x-tenant-id", &id)
            .send()
            .await
            .unwrap();
        common::assert_error(res, 404, "tenant_not_found").await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn absolute_form_targets_never_reach_another_tenant() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    let (a, b) = (unique("abs-a"), unique("abs-b"));
    let tenant_a = app.create(&a).await;
    app.create(&b).await;
    let token_a = app.token(&tenant_a);
    // Host names A, the target names B: refused, never B's data (nor A's, silently).
    let request = format!(
        "GET http://{b}.localhost/api/v1/ledgers HTTP/1.1\r\nHost: {a}.localhost\r\n\
         Authorization: Bearer {token_a}\r\nConnection: close\r\n\r\n"
    );
    let (status, body) = app.raw(request.as_bytes()).await;
    assert_eq!(status, 400, "{body}");
    assert!(!body.contains("\"data\""), "{body}");
    // Target and Host agree: served as usual.
    let request = format!(
        "GET http://{a}.localhost/api/v1/ledgers?limit=1 HTTP/1.1\r\nHost: {a}.localhost\r\n\
         Authorization: Bearer {token_a}\r\nConnection: close\r\n\r\n"
    );
    let (status, body) = app.raw(request.as_bytes()).await;
    assert_eq!(status, 200, "{body}");
    // The target alone names B: A's token is B's 403, and B's data is not shown.
    let request = format!(
        "GET http://{b}.localhost/api/v1/ledgers HTTP/1.1\r\n\
         Authorization: Bearer {token_a}\r\nConnection: close\r\n\r\n"
    );
    let (status, body) = app.raw(request.as_bytes()).await;
    assert!(matches!(status, 400 | 403), "{status} {body}");
    assert!(!body.contains("\"data\""), "{body}");
}
