//! Moving a tenant over the admin API between two PostgreSQL clusters while a client writes
//! through the tenant API: every write it was told succeeded is on the new server, the answers
//! in between are 503 `tenant_maintenance` with Retry-After, and the result reports the pause.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::admin::APEX;
use common::{TestApp, add_pg_server, assert_error, unique};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};
use tenantry_test_utils::{Dialect, pg2_admin_url};

/// The codes answered 201, and every other answer (status, body).
type Written = (Vec<String>, Vec<(u16, Value)>);

/// Adds ledgers through the tenant API until stopped; the codes answered 201 and the
/// statuses of the others.
fn spawn_writer(
    app: &TestApp,
    sub: &str,
    token: &str,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Written> {
    let (client, url) = (app.client.clone(), app.url("/api/v1/ledgers"));
    let (host, token) = (app.tenant_host(sub), token.to_owned());
    tokio::spawn(async move {
        let (mut acked, mut other) = (Vec::new(), Vec::new());
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let code = format!("m{n}");
            let body = json!({"code": code, "name": code, "type": "asset"});
            let res = client
                .post(&url)
                .header("host", &host)
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let retry_after = res.headers().contains_key("retry-after");
            let body: Value = res.json().await.unwrap_or(Value::Null);
            match status {
                201 => acked.push(code),
                _ => {
                    assert!(retry_after || status != 503, "503 without Retry-After");
                    other.push((status, body));
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
        (acked, other)
    })
}

#[tokio::test]
async fn a_tenant_moves_over_the_admin_api_while_a_client_writes() {
    let app = TestApp::spawn(Dialect::Postgres).await;
    let admin = app.admin_token("operator").await;
    let sub = unique("mv");
    let tenant = app.create(&sub).await;
    let token = app.token(&tenant);
    add_pg_server(&app.registry, "pg-two", &pg2_admin_url()).await;

    let stop = Arc::new(AtomicBool::new(false));
    let writer = spawn_writer(&app, &sub, &token, stop.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let path = format!("/admin/v1/tenants/{sub}/move");
    let (status, op) = app
        .admin_action(&admin, &path, &json!({"to": "pg-two"}))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let (acked, other) = writer.await.unwrap();

    assert_eq!(status, 200, "{op}");
    assert_eq!(op["state"], "succeeded", "{op}");
    let result = &op["result"];
    assert_eq!(result["to"], "pg-two", "{op}");
    assert_eq!(result["tenant"]["server"], "pg-two", "{op}");
    assert!(result["write_pause_ms"].as_u64().is_some(), "{op}");
    for (status, body) in &other {
        let code = body["error"]["code"].as_str().unwrap_or_default();
        assert!(
            matches!(
                (status, code),
                (
                    503,
                    "tenant_maintenance" | "database_unavailable" | "database_busy"
                )
            ),
            "{status} {body}"
        );
    }
    // Everything the client was told it wrote is there, on the new server.
    let moved = app.registry.tenant(tenant.id).await.unwrap().unwrap();
    let conn = app.provisioner.connect_tenant(&moved).await.unwrap();
    let rows = conn
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT code FROM ledgers WHERE code LIKE 'm%'",
        ))
        .await
        .unwrap();
    let chart: Vec<String> = rows
        .iter()
        .map(|r| r.try_get_by_index::<String>(0).unwrap())
        .collect();
    let lost: Vec<_> = acked.iter().filter(|c| !chart.contains(c)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes lost",
        lost.len(),
        acked.len()
    );
    assert!(acked.len() > 10, "the client barely wrote: {}", acked.len());
}

#[tokio::test]
async fn moves_that_cannot_work_are_clear_errors() {
    let app = TestApp::spawn(Dialect::Postgres).await;
    let admin = app.admin_token("operator").await;
    let sub = unique("mv");
    app.create(&sub).await;
    let path = format!("/admin/v1/tenants/{sub}/move");
    let cases = [
        (json!({"to": "pg-test"}), 409, "invalid_state"),
        (json!({"to": "pg-nowhere"}), 404, "not_found"),
        (json!({"to": "Not A Name!"}), 422, "validation_failed"),
        (json!({"server": "pg-test"}), 422, "validation_failed"),
    ];
    for (body, status, code) in cases {
        let res = app
            .post(APEX, &path)
            .bearer_auth(&admin)
            .header("prefer", "wait=60")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_error(res, status, code).await;
    }
    // A viewer moves nothing.
    let viewer = app.admin_token("viewer").await;
    let res = app
        .post(APEX, &path)
        .bearer_auth(&viewer)
        .json(&json!({"to": "pg-test"}))
        .send()
        .await
        .unwrap();
    assert_error(res, 403, "forbidden").await;
}
