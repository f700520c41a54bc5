//! Users: managed by admins only, never without an active admin, and disabled or deleted.

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use serde_json::{Value, json};
use tenantry_app::UserRole;
use tenantry_app::entity::user;
use tenantry_test_utils::Dialect;

use super::support::{Api, USER_PASSWORD, body, invalid_fields};
use crate::common::{TestApp, assert_error};

pub(crate) async fn users_are_managed_by_admins_only(dialect: Dialect) {
    let app = TestApp::spawn(dialect).await;
    let api = Api::new(&app, "usr").await;
    let at = |id: i64| format!("/api/v1/users/{id}");

    let page = body(api.get("/api/v1/users").await, 200).await;
    assert_eq!(page["total"], 1);
    let admin = &page["data"][0];
    let admin_id = admin["id"].as_i64().unwrap();
    assert_eq!(admin["role"], "admin");
    assert_eq!(admin["active"], true);
    assert!(!page.to_string().contains("argon2"), "hash shown: {page}");

    let (fields, _) = invalid_fields(api.post("/api/v1/users", json!({})).await).await;
    assert_eq!(fields, ["email", "name", "password", "role"]);
    let (fields, body422) = invalid_fields(
        api.post(
            "/api/v1/users",
            json!({"email": "nope", "name": " ", "password": "elevenchars", "role": "boss"}),
        )
        .await,
    )
    .await;
    assert_eq!(fields, ["email", "name", "password", "role"]);
    assert!(!body422.to_string().contains("elevenchars"));

    let ann = body(
        api.post(
            "/api/v1/users",
            json!({"email": " Ann@Example.COM ", "name": "Ann", "password": USER_PASSWORD,
                   "role": "accountant"}),
        )
        .await,
        201,
    )
    .await;
    let ann_id = ann["id"].as_i64().unwrap();
    assert_eq!(ann["email"], "ann@example.com");
    assert_eq!(ann["role"], "accountant");
    assert_eq!(ann["active"], true);
    assert_eq!(ann["disabled_at"], Value::Null);
    assert!(ann.get("password").is_none() && ann.get("password_hash").is_none());
    assert!(!ann.to_string().contains("argon2"), "hash shown: {ann}");
    let dup = api
        .post(
            "/api/v1/users",
            json!({"email": "ANN@example.com", "name": "Ann 2", "password": USER_PASSWORD,
                   "role": "viewer"}),
        )
        .await;
    assert_error(dup, 409, "conflict").await;
    assert_eq!(body(api.get(&at(ann_id)).await, 200).await, ann);
    assert_error(api.get(&at(999_999)).await, 404, "not_found").await;
    let second = body(api.get("/api/v1/users?limit=1&page=2").await, 200).await;
    assert_eq!(
        (second["total"].as_u64(), second["limit"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(second["data"][0]["id"], ann_id);

    // Non-admins manage nobody, themselves included.
    let ann_token = body(api.login("ann@example.com", USER_PASSWORD).await, 200).await;
    let as_ann = api.as_user(ann_token["token"].as_str().unwrap().to_owned());
    assert_error(as_ann.get("/api/v1/users").await, 403, "forbidden").await;
    assert_error(as_ann.get(&at(ann_id)).await, 403, "forbidden").await;
    let new = json!({"email": "x@example.com", "name": "X", "password": USER_PASSWORD,
                     "role": "admin"});
    assert_error(as_ann.post("/api/v1/users", new).await, 403, "forbidden").await;
    let promote = json!({"role": "admin"});
    assert_error(
        as_ann.patch(&at(ann_id), promote.clone()).await,
        403,
        "forbidden",
    )
    .await;
    assert_error(as_ann.delete(&at(admin_id)).await, 403, "forbidden").await;

    // The last active admin cannot be demoted, disabled or deleted.
    for change in [json!({"role": "viewer"}), json!({"active": false})] {
        let res = api.patch(&at(admin_id), change).await;
        let body409 = assert_error(res, 409, "conflict").await;
        assert!(
            body409.to_string().contains("last active admin"),
            "{body409}"
        );
    }
    assert_error(api.delete(&at(admin_id)).await, 409, "conflict").await;
    // With a second admin, the first may step down; then the second is the last one.
    assert_eq!(
        body(api.patch(&at(ann_id), promote).await, 200).await["role"],
        "admin"
    );
    let ann_token = body(api.login("ann@example.com", USER_PASSWORD).await, 200).await;
    let ann_admin = api.as_user(ann_token["token"].as_str().unwrap().to_owned());
    let stepped = ann_admin
        .patch(&at(admin_id), json!({"role": "accountant"}))
        .await;
    assert_eq!(body(stepped, 200).await["role"], "accountant");
    // A role change ends the user's sessions: the demoted admin's token is refused at once.
    assert_error(api.get("/api/v1/users").await, 401, "unauthorized").await;
    for change in [json!({"role": "viewer"}), json!({"active": false})] {
        assert_error(ann_admin.patch(&at(ann_id), change).await, 409, "conflict").await;
    }
    assert_error(ann_admin.delete(&at(ann_id)).await, 409, "conflict").await;
    let restored = ann_admin
        .patch(&at(admin_id), json!({"role": "admin"}))
        .await;
    assert_eq!(body(restored, 200).await["role"], "admin");
    let relogin = app.login(api.host.trim_end_matches(".localhost")).await;
    let api = api.as_user(relogin);

    // Disabling stops logins; enabling with a new password gives access with that one only.
    let (vic_id, _) = api.new_user("vic@example.com", "viewer").await;
    let vic_token = body(api.login("vic@example.com", USER_PASSWORD).await, 200).await;
    let as_vic = api.as_user(vic_token["token"].as_str().unwrap().to_owned());
    assert_eq!(as_vic.get("/api/v1/ledgers").await.status(), 200);
    let disabled = body(api.patch(&at(vic_id), json!({"active": false})).await, 200).await;
    // ... and a disabled user's token stops working at once, not when it expires.
    assert_error(as_vic.get("/api/v1/ledgers").await, 401, "unauthorized").await;
    assert_eq!(disabled["active"], false);
    assert!(disabled["disabled_at"].is_string());
    let refused = api.login("vic@example.com", USER_PASSWORD).await;
    assert_error(refused, 401, "invalid_credentials").await;
    let (fields, _) = invalid_fields(
        api.patch(&at(vic_id), json!({"password": "too short"}))
            .await,
    )
    .await;
    assert_eq!(fields, ["password"]);
    let (fields, _) = invalid_fields(
        api.patch(&at(vic_id), json!({"role": "root", "name": ""}))
            .await,
    )
    .await;
    assert_eq!(fields, ["name", "role"]);
    let (fields, _) = invalid_fields(
        api.patch(&at(vic_id), json!({"email": "v@example.com"}))
            .await,
    )
    .await;
    assert_eq!(fields, ["body"]);
    let reset = json!({"active": true, "password": "a brand new passphrase", "name": "Vic"});
    let enabled = body(api.patch(&at(vic_id), reset).await, 200).await;
    assert_eq!(
        (&enabled["active"], &enabled["name"]),
        (&json!(true), &json!("Vic"))
    );
    let old = api.login("vic@example.com", USER_PASSWORD).await;
    assert_error(old, 401, "invalid_credentials").await;
    let new = api.login("vic@example.com", "a brand new passphrase").await;
    assert_eq!(new.status(), 200);

    // Deleting: gone for good, unless the user authored vouchers (then only disabling).
    assert_eq!(api.delete(&at(vic_id)).await.status(), 204);
    assert_error(api.get(&at(vic_id)).await, 404, "not_found").await;
    let gone = api.login("vic@example.com", "a brand new passphrase").await;
    assert_error(gone, 401, "invalid_credentials").await;
    let ids = api.ledgers().await;
    ann_admin
        .voucher(
            "2024-01-02",
            json!([{"ledger_id": ids["1100"], "debit": 1}, {"ledger_id": ids["3100"], "credit": 1}]),
        )
        .await;
    let body409 = assert_error(api.delete(&at(ann_id)).await, 409, "conflict").await;
    assert!(body409.to_string().contains("disable"), "{body409}");
    let off = body(api.patch(&at(ann_id), json!({"active": false})).await, 200).await;
    assert_eq!(off["active"], false);
    let page = body(api.get("/api/v1/users").await, 200).await;
    assert_eq!(page["total"], 2);
    assert!(!page.to_string().contains("argon2"), "hash shown: {page}");

    // Two admins demoting each other at once: one wins, one admin remains. The test holds
    // the admins' rows (SQLite: the write lock) until both requests wait on them, so the race
    // happens every time.
    let on = body(api.patch(&at(ann_id), json!({"active": true})).await, 200).await;
    assert_eq!(on["active"], true);
    // Disabling ended Ann's sessions (re-enabling does not revive them): she logs in again.
    let ann_token = body(api.login("ann@example.com", USER_PASSWORD).await, 200).await;
    let ann_admin = api.as_user(ann_token["token"].as_str().unwrap().to_owned());
    let db = app.provisioner.connect_tenant(&api.tenant).await.unwrap();
    let blocker = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await
        .unwrap();
    if blocker.get_database_backend() == DbBackend::Postgres {
        blocker
            .execute_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT id FROM users WHERE role = 'admin' FOR UPDATE",
            ))
            .await
            .unwrap();
    }
    let demote = json!({"role": "viewer"});
    let (ann_path, admin_path) = (at(ann_id), at(admin_id));
    let (first, second, ()) = tokio::join!(
        api.patch(&ann_path, demote.clone()),
        ann_admin.patch(&admin_path, demote),
        async {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            blocker.commit().await.unwrap();
        },
    );
    let mut statuses = [first.status().as_u16(), second.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409]);
    let admins = user::Entity::find()
        .filter(user::Column::Role.eq(UserRole::Admin))
        .count(&db)
        .await
        .unwrap();
    db.close().await.unwrap();
    assert_eq!(admins, 1);
}
