//! Malformed hosts, bodies and routes: every one gets a 4xx answer with a JSON error.

use serde_json::{Value, json};
use tenantry_test_utils::Dialect;

use super::support::host;
use crate::common::{TestApp, assert_error, unique};

#[tokio::test(flavor = "multi_thread")]
async fn bad_hosts_get_a_4xx_json_answer() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    let long = "a".repeat(300);
    let corpus: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"127.0.0.1".to_vec(),
        b"[::1]:8080".to_vec(),
        b":8080".to_vec(),
        b"ACME.LOCALHOST".to_vec(),
        b"acme.localhost.".to_vec(),
        "acmé.localhost".as_bytes().to_vec(),
        b"\xff\xfe.localhost".to_vec(),
        long.as_bytes().to_vec(),
        format!("{long}.localhost").into_bytes(),
        b"..".to_vec(),
        b"acme..localhost".to_vec(),
        b"a.b.localhost".to_vec(),
        b"acme.localhost:99999".to_vec(),
        b"acme.localhost:port".to_vec(),
        b"-acme.localhost".to_vec(),
        b"a_b.localhost".to_vec(),
        b"user@acme.localhost".to_vec(),
    ];
    for host in corpus {
        let mut req = b"GET /api/v1/ledgers HTTP/1.1\r\nHost: ".to_vec();
        req.extend_from_slice(&host);
        req.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
        let (status, body) = app.raw(&req).await;
        let shown = String::from_utf8_lossy(&host);
        assert!((400..500).contains(&status), "{shown:?} → {status}");
        let json: Value = serde_json::from_str(body.trim())
            .unwrap_or_else(|e| panic!("{shown:?} → {status} non-JSON body {body:?}: {e}"));
        assert!(json["error"]["code"].is_string(), "{shown:?} → {json}");
    }
    // No Host at all (HTTP/1.0).
    let (status, _) = app.raw(b"GET /api/v1/ledgers HTTP/1.0\r\n\r\n").await;
    assert!((400..500).contains(&status), "no Host → {status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_bodies_and_routes_get_json_errors() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    let t = unique("j");
    let row = app.create(&t).await;
    let token = app.token(&row);
    let post = || app.post(&host(&t), "/api/v1/ledgers").bearer_auth(&token);

    let res = post()
        .header("content-type", "application/json")
        .body("{\"code\": ")
        .send()
        .await
        .unwrap();
    assert_error(res, 400, "invalid_json").await;
    let res = post()
        .header("content-type", "application/json")
        .body(format!("{{\"code\":\"{}\"}}", "x".repeat(100 * 1024)))
        .send()
        .await
        .unwrap();
    assert_error(res, 413, "payload_too_large").await;
    let res = post()
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_error(res, 415, "unsupported_media_type").await;
    let res = post().json(&json!({"code": "1"})).send().await.unwrap();
    assert_error(res, 422, "validation_failed").await;
    let res = app
        .client
        .delete(app.url("/api/v1/ledgers"))
        .header("host", host(&t))
        .send()
        .await
        .unwrap();
    assert_error(res, 405, "method_not_allowed").await;
    assert_error(
        app.get("localhost", "/nowhere").send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
    let res = app
        .get(&host(&t), "/api/v1/ledgers?limit=%zz")
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error());
}
