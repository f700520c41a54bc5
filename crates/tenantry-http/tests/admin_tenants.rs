//! The tenant lifecycle over the admin API: asynchronous operations, idempotency, gating on
//! the tenant's own host, and one audit row per change.

mod common;

use std::time::Duration;

use common::admin::APEX;
use common::{TestApp, assert_error, time_until, unique};
use serde_json::{Value, json};
use tenantry_test_utils::Dialect;

async fn body(res: reqwest::Response) -> Value {
    res.json().await.unwrap()
}

/// Polls `GET /operations/{id}` (each a wait of up to 10 s) until it has finished.
async fn finished(app: &TestApp, token: &str, op: &Value) -> Value {
    let id = op["id"].as_str().unwrap();
    for _ in 0..6 {
        let res = app
            .get(APEX, &format!("/admin/v1/operations/{id}"))
            .header("prefer", "wait=10")
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let op = body(res).await;
        if op["state"] != "running" {
            return op;
        }
    }
    panic!("operation {id} still running after 60 s");
}

async fn lifecycle(dialect: Dialect) {
    let app = TestApp::spawn(dialect).await;
    let token = app.admin_token("operator").await;
    let sub = unique("acme");
    let create = json!({
        "subdomain": sub, "name": "Acme Ltd", "plan": "free",
        "admin_email": format!("Admin@{sub}.example"), "admin_password": common::ADMIN_PASSWORD,
    });
    let post = |key: &str, body: &Value| {
        let req = app
            .post(APEX, "/admin/v1/tenants")
            .bearer_auth(&token)
            .header("idempotency-key", key)
            .json(body);
        async move { req.send().await.unwrap() }
    };
    let res = post("create-1", &create).await;
    assert_eq!(res.status(), 202);
    let op = body(res).await;
    assert_eq!(op["kind"], "tenant.create");
    // A retry with the same key: the same operation, not a second tenant.
    let again = post("create-1", &create).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(body(again).await["id"], op["id"]);
    let mut other = create.clone();
    other["name"] = json!("Someone else");
    assert_error(
        post("create-1", &other).await,
        422,
        "idempotency_key_reused",
    )
    .await;

    let op = finished(&app, &token, &op).await;
    assert_eq!(op["state"], "succeeded", "{op}");
    app.login(&sub).await;
    let listed = body(
        app.get(APEX, &format!("/admin/v1/tenants?search={sub}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(listed["total"], 1, "{listed}");
    assert_eq!(listed["data"][0]["plan"], "free");

    // Suspend: 403 on its host within a second, here and on a second instance.
    let other = app.second_instance();
    let host = format!("{sub}.localhost");
    let res = app
        .post(APEX, &format!("/admin/v1/tenants/{sub}/suspend"))
        .bearer_auth(&token)
        .json(&json!({"reason": "unpaid invoice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(body(res).await["status"], "suspended");
    let waited = time_until(403, || async {
        app.get_at(other.addr, &host, "/api/v1/ledgers")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    })
    .await;
    assert!(waited < Duration::from_secs(1), "{waited:?}");
    let res = app
        .post(APEX, &format!("/admin/v1/tenants/{sub}/reactivate"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    time_until(401, || async {
        app.get(&host, "/api/v1/ledgers")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    })
    .await;

    // Delete: refused without the right confirmation, and nothing changes.
    let delete = |confirm: Option<&str>| {
        let req = app
            .admin_delete(&format!("/admin/v1/tenants/{sub}"))
            .bearer_auth(&token)
            .header("prefer", "wait=30");
        let req = match confirm {
            Some(c) => req.json(&json!({ "confirm": c })),
            None => req,
        };
        async move { req.send().await.unwrap() }
    };
    assert_error(delete(None).await, 400, "bad_request").await;
    assert_error(delete(Some("not-it")).await, 400, "bad_request").await;
    assert_eq!(
        app.get(&host, "/api/v1/ledgers")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let res = delete(Some(&sub)).await;
    assert_eq!(res.status(), 200, "waited for the deletion");
    let op = body(res).await;
    assert_eq!(op["state"], "succeeded", "{op}");
    time_until(404, || async {
        app.get(&host, "/api/v1/ledgers")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    })
    .await;

    // One audit row per change, naming the operator, the address and the request; no secret.
    let audit = body(
        app.get(APEX, "/admin/v1/audit?limit=100")
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"].as_str().unwrap().starts_with("admin:"))
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "tenant.create",
        "tenant.suspend",
        "tenant.reactivate",
        "tenant.delete",
    ] {
        assert_eq!(
            actions.iter().filter(|a| **a == action).count(),
            1,
            "{action} in {actions:?}"
        );
    }
    for entry in audit["data"].as_array().unwrap() {
        if entry["actor"].as_str().unwrap().starts_with("admin:") {
            assert_eq!(entry["ip"], "127.0.0.1", "{entry}");
            assert!(entry["request_id"].is_string(), "{entry}");
        }
    }
    assert!(!audit.to_string().contains(common::ADMIN_PASSWORD));
    assert!(!audit.to_string().contains(&token));
}

#[tokio::test]
async fn lifecycle_over_the_admin_api_sqlite() {
    lifecycle(Dialect::Sqlite).await;
}

#[tokio::test]
async fn lifecycle_over_the_admin_api_postgres() {
    lifecycle(Dialect::Postgres).await;
}

#[tokio::test]
async fn a_created_tenant_without_a_password_gets_one_shown_once() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    let token = app.admin_token("owner").await;
    let sub = unique("beta");
    let create = json!({"subdomain": sub, "name": "Beta", "admin_email": "boss@beta.example"});
    let send = || {
        app.post(APEX, "/admin/v1/tenants")
            .bearer_auth(&token)
            .header("idempotency-key", "beta")
            .header("prefer", "wait=30")
            .json(&create)
            .send()
    };
    let first = body(send().await.unwrap()).await;
    assert_eq!(first["state"], "succeeded", "{first}");
    let password = first["one_time_password"].as_str().unwrap().to_owned();
    assert!(password.len() >= 12);
    let replay = body(send().await.unwrap()).await;
    assert_eq!(replay["one_time_password"], "<shown once>");
    let res = app
        .post(&format!("{sub}.localhost"), "/api/v1/auth/login")
        .json(&json!({"email": "boss@beta.example", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn bad_input_is_a_clear_error() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    let token = app.admin_token("owner").await;
    let post = |path: &str, body: Value| {
        let req = app.post(APEX, path).bearer_auth(&token).json(&body);
        async move { req.send().await.unwrap() }
    };
    let res = post(
        "/admin/v1/tenants",
        json!({"subdomain": "Bad Name!", "name": "x", "admin_email": "a@b.example"}),
    )
    .await;
    let err = assert_error(res, 422, "validation_failed").await;
    assert_eq!(err["error"]["fields"][0]["field"], "subdomain");
    let res = post(
        "/admin/v1/tenants",
        json!({"subdomain": "okname", "name": "x", "plan": "gold", "admin_email": "a@b.example"}),
    )
    .await;
    assert_error(res, 422, "validation_failed").await;
    let res = post("/admin/v1/tenants/nosuch/suspend", json!({"reason": "x"})).await;
    assert_error(res, 404, "not_found").await;
    let res = app
        .get(APEX, "/admin/v1/tenants?limit=0&status=bogus")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16() / 100, 4);
    let res = app
        .get(APEX, "/admin/v1/tenants?cursor=zzz")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_error(res, 422, "validation_failed").await;
}
