//! Changing operators over the admin API: an owner disables, re-enables, demotes or resets an
//! operator, which ends their sessions at once; an operator changes their own password; the
//! last active owner stays an owner; only owners manage operators.

mod common;

use common::admin::APEX;
use common::{TestApp, assert_error};
use serde_json::{Value, json};
use tenantry_test_utils::Dialect;

const NEW_PASSWORD: &str = "a-brand-new-password-2";

async fn login(app: &TestApp, email: &str, password: &str) -> Option<String> {
    let res = app
        .post(APEX, "/admin/v1/login")
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap();
    let ok = res.status() == 200;
    let body: Value = res.json().await.unwrap();
    ok.then(|| body["token"].as_str().unwrap().to_owned())
}

async fn id_of(app: &TestApp, owner: &str, email: &str) -> String {
    let res = app.get(APEX, "/admin/v1/admins").bearer_auth(owner).send();
    let body: Value = res.await.unwrap().json().await.unwrap();
    let found = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["email"] == email);
    found.unwrap()["id"].as_str().unwrap().to_owned()
}

async fn patch(app: &TestApp, token: &str, id: &str, body: Value) -> reqwest::Response {
    let path = format!("/admin/v1/admins/{id}");
    app.admin_patch(&path)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// 200 while the session is valid, 401 once it is not.
async fn session_status(app: &TestApp, token: &str) -> u16 {
    let res = app.get(APEX, "/admin/v1/tenants").bearer_auth(token).send();
    res.await.unwrap().status().as_u16()
}

#[tokio::test]
async fn an_owner_disables_demotes_and_resets_an_operator_ending_their_sessions() {
    let app = TestApp::spawn(Dialect::Postgres).await;
    let owner = app.admin_token("owner").await;
    let (email, password) = app.admin("operator").await;
    let id = id_of(&app, &owner, &email).await;
    let session = login(&app, &email, &password).await.unwrap();
    assert_eq!(session_status(&app, &session).await, 200);

    // Only owners manage operators.
    let res = patch(&app, &session, &id, json!({ "role": "owner" })).await;
    assert_error(res, 403, "forbidden").await;

    let res = patch(&app, &owner, &id, json!({ "disabled": true })).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert!(body["disabled_at"].is_string(), "{body}");
    assert_eq!(session_status(&app, &session).await, 401, "ended at once");
    assert!(login(&app, &email, &password).await.is_none(), "disabled");

    let res = patch(&app, &owner, &id, json!({ "disabled": false })).await;
    assert_eq!(res.status(), 200);
    assert_eq!(session_status(&app, &session).await, 401, "not revived");
    let session = login(&app, &email, &password).await.unwrap();

    let res = patch(&app, &owner, &id, json!({ "role": "viewer" })).await;
    assert_eq!(res.json::<Value>().await.unwrap()["role"], "viewer");
    assert_eq!(session_status(&app, &session).await, 401);
    let viewer = login(&app, &email, &password).await.unwrap();
    let res = app
        .post(APEX, "/admin/v1/tenants/migrate")
        .bearer_auth(&viewer)
        .send();
    assert_eq!(res.await.unwrap().status(), 403, "a viewer now");

    let res = patch(&app, &owner, &id, json!({ "password": NEW_PASSWORD })).await;
    assert_eq!(res.status(), 200);
    assert_eq!(session_status(&app, &viewer).await, 401);
    assert!(
        login(&app, &email, &password).await.is_none(),
        "old password"
    );
    assert!(login(&app, &email, NEW_PASSWORD).await.is_some());

    let res = patch(&app, &owner, &id, json!({ "password": "short" })).await;
    assert_error(res, 422, "validation_failed").await;
    let res = patch(&app, &owner, "not-an-id", json!({ "disabled": true })).await;
    assert_eq!(res.status(), 404);

    let audit = app
        .get(APEX, "/admin/v1/audit?action=admin.update")
        .bearer_auth(&owner);
    let body: Value = audit.send().await.unwrap().json().await.unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 4, "{body}");
}

#[tokio::test]
async fn the_last_active_owner_can_be_neither_demoted_nor_disabled() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    let (email, password) = app.admin("owner").await;
    let owner = login(&app, &email, &password).await.unwrap();
    let me = id_of(&app, &owner, &email).await;
    for change in [json!({ "role": "operator" }), json!({ "disabled": true })] {
        let res = patch(&app, &owner, &me, change).await;
        let body = assert_error(res, 409, "invalid_state").await;
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("last active owner")
        );
    }
    assert_eq!(session_status(&app, &owner).await, 200, "nothing changed");

    // With a second owner, either may step down.
    let (other, _) = app.admin("owner").await;
    let other = id_of(&app, &owner, &other).await;
    let res = patch(&app, &owner, &other, json!({ "role": "operator" })).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn an_operator_changes_their_own_password() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    let (email, password) = app.admin("viewer").await;
    let session = login(&app, &email, &password).await.unwrap();
    let change = |token: &str, current: &str| {
        app.post(APEX, "/admin/v1/password")
            .bearer_auth(token)
            .json(&json!({ "current_password": current, "new_password": NEW_PASSWORD }))
            .send()
    };

    let res = change(&session, "not-my-password").await.unwrap();
    assert_error(res, 422, "validation_failed").await;
    assert_eq!(session_status(&app, &session).await, 200);

    let res = change(&session, &password).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(session_status(&app, &session).await, 401, "sign in again");
    assert!(login(&app, &email, &password).await.is_none());
    assert!(login(&app, &email, NEW_PASSWORD).await.is_some());

    let script = app.insert_token("script", "owner", None).await;
    let res = change(&script, "anything-at-all").await.unwrap();
    assert_error(res, 409, "invalid_state").await;
}

/// Guessing the current password through `/password` counts against the operator's login quota
/// (30 a minute): a stolen session cannot be used to find the password at hashing speed.
#[tokio::test]
async fn password_changes_count_against_the_login_quota() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    let (email, password) = app.admin("viewer").await;
    let session = login(&app, &email, &password).await.unwrap();
    let guess = |n: usize| {
        app.post(APEX, "/admin/v1/password")
            .bearer_auth(&session)
            .json(
                &json!({ "current_password": format!("guess-{n}"), "new_password": NEW_PASSWORD }),
            )
            .send()
    };
    for n in 1..30 {
        assert_eq!(guess(n).await.unwrap().status(), 422, "guess {n}");
    }
    let mut statuses = Vec::new();
    for n in 30..33 {
        statuses.push(guess(n).await.unwrap().status().as_u16());
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert!(
        login(&app, &email, &password).await.is_none(),
        "the account's quota is spent"
    );
}
