//! The admin API's doors: who gets in, with which role, on which host.

mod common;

use common::admin::APEX;
use common::{TestApp, assert_error, unique};
use serde_json::{Value, json};
use tenantry_test_utils::Dialect;

#[tokio::test]
async fn only_valid_admin_credentials_get_in() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    let owner = app.admin_token("owner").await;
    let get = |token: Option<&str>| {
        let req = app.get(APEX, "/admin/v1/tenants");
        let req = match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        async move { req.send().await.unwrap() }
    };
    assert_eq!(get(Some(&owner)).await.status(), 200);
    assert_error(get(None).await, 401, "unauthorized").await;
    assert_error(get(Some("garbage")).await, 401, "unauthorized").await;
    assert_error(get(Some("tnty_notatoken")).await, 401, "unauthorized").await;

    // A tenant user's token, valid on its tenant, is nothing here; an admin token is nothing on
    // a tenant.
    let sub = unique("acme");
    app.create(&sub).await;
    let tenant_token = app.login(&sub).await;
    assert_error(get(Some(&tenant_token)).await, 401, "unauthorized").await;
    let res = app
        .get(&format!("{sub}.localhost"), "/api/v1/ledgers")
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_error(res, 401, "unauthorized").await;

    // An API token: works until revoked, then 401 at once — in another instance too.
    let created = app
        .post(APEX, "/admin/v1/tokens")
        .bearer_auth(&owner)
        .json(&json!({"name": "ci", "role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("tnty_"));
    let other = app.second_instance();
    let at_other = |token: String| {
        let req = app
            .get_at(other.addr, APEX, "/admin/v1/tenants")
            .bearer_auth(token);
        async move { req.send().await.unwrap().status() }
    };
    assert_eq!(get(Some(&secret)).await.status(), 200);
    assert_eq!(at_other(secret.clone()).await, 200);
    let listed: Value = app
        .get(APEX, "/admin/v1/tokens")
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(listed["data"][0]["last_used_at"].is_string(), "{listed}");
    assert!(
        !listed.to_string().contains(&secret),
        "a listing never shows a secret"
    );
    let id = created["id"].as_str().unwrap();
    let revoked = app
        .admin_delete(&format!("/admin/v1/tokens/{id}"))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_error(get(Some(&secret)).await, 401, "unauthorized").await;
    assert_eq!(at_other(secret.clone()).await, 401);
}

#[tokio::test]
async fn an_expired_api_token_is_refused() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    let expires = chrono::Utc::now() + chrono::Duration::milliseconds(300);
    let secret = app.insert_token("short", "owner", Some(expires)).await;
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let res = app
        .get(APEX, "/admin/v1/tenants")
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_error(res, 401, "unauthorized").await;
}

#[tokio::test]
async fn roles_limit_what_a_caller_may_do() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    let viewer = app.admin_token("viewer").await;
    let operator = app.admin_token("operator").await;
    let sub = unique("acme");
    app.create(&sub).await;

    let suspend = |token: String| {
        let req = app
            .post(APEX, &format!("/admin/v1/tenants/{sub}/suspend"))
            .bearer_auth(token)
            .json(&json!({"reason": "unpaid"}));
        async move { req.send().await.unwrap() }
    };
    assert_eq!(
        app.get(APEX, "/admin/v1/tenants")
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_error(suspend(viewer.clone()).await, 403, "forbidden").await;
    for path in ["/admin/v1/tokens", "/admin/v1/admins"] {
        let res = app
            .post(APEX, path)
            .bearer_auth(&operator)
            .json(&json!({"name": "x", "email": "x@example.com", "role": "owner"}))
            .send()
            .await
            .unwrap();
        assert_error(res, 403, "forbidden").await;
        let res = app
            .get(APEX, path)
            .bearer_auth(&operator)
            .send()
            .await
            .unwrap();
        assert_error(res, 403, "forbidden").await;
    }
    assert_eq!(suspend(operator.clone()).await.status(), 200);
}

#[tokio::test]
async fn the_admin_api_exists_on_the_apex_host_only() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    let owner = app.admin_token("owner").await;
    let sub = unique("acme");
    app.create(&sub).await;
    for host in [
        format!("{sub}.localhost"),
        "127.0.0.1".into(),
        "x.acme.localhost".into(),
    ] {
        let res = app
            .get(&host, "/admin/v1/tenants")
            .bearer_auth(&owner)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{host}");
    }
}

#[tokio::test]
async fn an_operator_logs_in_and_a_wrong_password_is_401() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    let (email, password) = app.admin("owner").await;
    let login = |password: &str| {
        let req = app
            .post(APEX, "/admin/v1/login")
            .json(&json!({"email": email, "password": password}));
        async move { req.send().await.unwrap() }
    };
    assert_error(login("wrong password!").await, 401, "invalid_credentials").await;
    let res = login(&password).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["expires_in"], 900);
    let res = app
        .get(APEX, "/admin/v1/stats")
        .bearer_auth(body["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}
