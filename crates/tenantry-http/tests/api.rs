//! The tenant API end to end over HTTP, on real tenant databases of both dialects: ledgers,
//! users, vouchers, invoices, the trial balance, isolation between tenants and pagination.

mod common;

use std::collections::HashMap;

use common::{TestApp, assert_error, unique};
use reqwest::{Method, RequestBuilder, Response};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use serde_json::{Value, json};
use tenantry_app::UserRole;
use tenantry_app::entity::{invoice, invoice_line, user, voucher, voucher_line};
use tenantry_test_utils::Dialect;

/// Runs a scenario as two tests, `<scenario>::sqlite` and `<scenario>::postgres`.
macro_rules! on_both_dialects {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            use super::*;

            #[tokio::test(flavor = "multi_thread")]
            async fn sqlite() {
                super::$scenario(Dialect::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn postgres() {
                super::$scenario(Dialect::Postgres).await;
            }
        }
    )*};
}

on_both_dialects!(
    ledgers_are_read_renamed_moved_and_deleted,
    users_are_managed_by_admins_only,
    vouchers_post_balanced_or_write_nothing,
    invoices_are_totalled_by_the_server,
    trial_balance_reflects_posted_vouchers,
    other_tenants_ids_do_not_exist_here,
    pagination_is_bounded_everywhere,
);

/// One tenant seen through its API, as one of its users.
struct Api<'a> {
    app: &'a TestApp,
    tenant: tenantry_registry::Tenant,
    host: String,
    token: String,
}

#[derive(Debug, PartialEq, Eq)]
struct Counts {
    vouchers: u64,
    voucher_lines: u64,
    invoices: u64,
    invoice_lines: u64,
}

impl<'a> Api<'a> {
    /// A new tenant, as its seeded admin.
    async fn new(app: &'a TestApp, prefix: &str) -> Self {
        let sub = unique(prefix);
        let tenant = app.create(&sub).await;
        let token = app.login(&sub).await;
        Self {
            app,
            tenant,
            host: format!("{sub}.localhost"),
            token,
        }
    }

    /// The same tenant as another user.
    fn as_user(&self, token: String) -> Self {
        Self {
            app: self.app,
            tenant: self.tenant.clone(),
            host: self.host.clone(),
            token,
        }
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.app
            .client
            .request(method, self.app.url(path))
            .header("host", format!("{}:{}", self.host, self.app.addr.port()))
            .bearer_auth(&self.token)
    }

    async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).send().await.unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> Response {
        self.request(Method::POST, path)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn patch(&self, path: &str, body: Value) -> Response {
        self.request(Method::PATCH, path)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn delete(&self, path: &str) -> Response {
        self.request(Method::DELETE, path).send().await.unwrap()
    }

    async fn login(&self, email: &str, password: &str) -> Response {
        self.post(
            "/api/v1/auth/login",
            json!({"email": email, "password": password}),
        )
        .await
    }

    /// Creates a user with `role` and logs them in: (id, a client acting as them).
    async fn new_user(&self, email: &str, role: &str) -> (i64, Api<'a>) {
        let created = body(
            self.post(
                "/api/v1/users",
                json!({"email": email, "name": role, "password": USER_PASSWORD, "role": role}),
            )
            .await,
            201,
        )
        .await;
        let token = body(self.login(email, USER_PASSWORD).await, 200).await;
        let token = token["token"].as_str().unwrap().to_owned();
        (created["id"].as_i64().unwrap(), self.as_user(token))
    }

    /// Ledger ids by code.
    async fn ledgers(&self) -> HashMap<String, i64> {
        let page = body(self.get("/api/v1/ledgers?limit=100").await, 200).await;
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["code"].as_str().unwrap().to_owned(),
                    l["id"].as_i64().unwrap(),
                )
            })
            .collect()
    }

    async fn voucher(&self, date: &str, lines: Value) -> Value {
        let res = self
            .post(
                "/api/v1/vouchers",
                json!({"date": date, "narration": "test", "lines": lines}),
            )
            .await;
        body(res, 201).await
    }

    /// Rows in the tenant database, read directly (not through the API).
    async fn counts(&self) -> Counts {
        let db = self
            .app
            .provisioner
            .connect_tenant(&self.tenant)
            .await
            .unwrap();
        let counts = Counts {
            vouchers: voucher::Entity::find().count(&db).await.unwrap(),
            voucher_lines: voucher_line::Entity::find().count(&db).await.unwrap(),
            invoices: invoice::Entity::find().count(&db).await.unwrap(),
            invoice_lines: invoice_line::Entity::find().count(&db).await.unwrap(),
        };
        db.close().await.unwrap();
        counts
    }

    /// Makes the database refuse any voucher line with a debit of 4242, as a fault arriving
    /// after the voucher row itself was written.
    async fn fail_voucher_lines_debiting_4242(&self) {
        let db = self
            .app
            .provisioner
            .connect_tenant(&self.tenant)
            .await
            .unwrap();
        let backend = db.get_database_backend();
        let statements: &[&str] = match backend {
            DbBackend::Postgres => &[
                "CREATE FUNCTION fail_4242() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN IF NEW.debit = 4242 THEN RAISE EXCEPTION 'injected failure'; END IF; \
                 RETURN NEW; END $$",
                "CREATE TRIGGER fail_4242 BEFORE INSERT ON voucher_lines \
                 FOR EACH ROW EXECUTE FUNCTION fail_4242()",
            ],
            _ => &["CREATE TRIGGER fail_4242 BEFORE INSERT ON voucher_lines \
                 WHEN NEW.debit = 4242 BEGIN SELECT RAISE(ABORT, 'injected failure'); END"],
        };
        for sql in statements {
            db.execute_raw(Statement::from_string(backend, *sql))
                .await
                .unwrap();
        }
        db.close().await.unwrap();
    }
}

const USER_PASSWORD: &str = "correct horse battery staple";

/// Asserts the status and returns the JSON body.
async fn body(res: Response, status: u16) -> Value {
    let (got, url) = (res.status().as_u16(), res.url().clone());
    let text = res.text().await.unwrap();
    assert_eq!(got, status, "{url}: {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: {e}: {text}"))
    }
}

/// A 422 `validation_failed`: its field names, in order.
async fn invalid_fields(res: Response) -> (Vec<String>, Value) {
    let body = assert_error(res, 422, "validation_failed").await;
    let fields = body["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_owned())
        .collect();
    (fields, body)
}

fn message_of<'v>(body: &'v Value, field: &str) -> &'v str {
    body["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == field)
        .unwrap_or_else(|| panic!("no field {field} in {body}"))["message"]
        .as_str()
        .unwrap()
}

fn dates(page: &Value) -> Vec<&str> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["date"].as_str().unwrap())
        .collect()
}

async fn ledgers_are_read_renamed_moved_and_deleted(dialect: Dialect) {
    let app = TestApp::spawn(dialect).await;
    let api = Api::new(&app, "led").await;
    let ids = api.ledgers().await;
    let (assets, cash, expenses, rent, capital) = (
        ids["1000"],
        ids["1100"],
        ids["5000"],
        ids["5200"],
        ids["3100"],
    );
    let at = |id: i64| format!("/api/v1/ledgers/{id}");

    let read = body(api.get(&at(cash)).await, 200).await;
    assert_eq!(
        read,
        json!({"id": cash, "code": "1100", "name": "Cash", "type": "asset", "parent_id": assets})
    );
    assert_error(api.get(&at(999_999)).await, 404, "not_found").await;
    assert_error(api.get("/api/v1/ledgers/cash").await, 404, "not_found").await;

    let renamed = body(
        api.patch(&at(cash), json!({"name": " Petty Cash "})).await,
        200,
    )
    .await;
    assert_eq!(renamed["name"], "Petty Cash");
    assert_eq!(
        renamed["parent_id"], assets,
        "an absent parent_id is unchanged"
    );
    assert_eq!(body(api.get(&at(cash)).await, 200).await, renamed);

    // A parent must exist, have the same type and not be the ledger or one of its children.
    for (ledger, parent, why) in [
        (cash, json!(expenses), "same type"),
        (assets, json!(cash), "own ancestor"),
        (cash, json!(cash), "own ancestor"),
        (cash, json!(999_999), "no such ledger"),
    ] {
        let (fields, body) =
            invalid_fields(api.patch(&at(ledger), json!({"parent_id": parent})).await).await;
        assert_eq!(fields, ["parent_id"]);
        assert!(message_of(&body, "parent_id").contains(why), "{body}");
    }
    let (fields, _) = invalid_fields(api.patch(&at(cash), json!({"name": ""})).await).await;
    assert_eq!(fields, ["name"]);
    // The code and type are not editable: saying otherwise is refused, not ignored.
    let (fields, _) = invalid_fields(api.patch(&at(cash), json!({"code": "1199"})).await).await;
    assert_eq!(fields, ["body"]);
    assert_error(
        api.patch(&at(999_999), json!({"name": "X"})).await,
        404,
        "not_found",
    )
    .await;
    let top = body(api.patch(&at(cash), json!({"parent_id": null})).await, 200).await;
    assert_eq!(top["parent_id"], Value::Null);
    let back = body(
        api.patch(&at(cash), json!({"parent_id": assets})).await,
        200,
    )
    .await;
    assert_eq!(back["parent_id"], assets);

    // Creating under a parent checks the type too.
    let (fields, _) = invalid_fields(
        api.post(
            "/api/v1/ledgers",
            json!({"code": "5220", "name": "Odd", "type": "asset", "parent_id": rent}),
        )
        .await,
    )
    .await;
    assert_eq!(fields, ["parent_id"]);
    let office = body(
        api.post(
            "/api/v1/ledgers",
            json!({"code": "5210", "name": "Office rent", "type": "expense", "parent_id": rent}),
        )
        .await,
        201,
    )
    .await;
    let office = office["id"].as_i64().unwrap();

    // In use: children or postings keep a ledger.
    let body409 = assert_error(api.delete(&at(rent)).await, 409, "conflict").await;
    assert!(body409.to_string().contains("sub-ledger"), "{body409}");
    api.voucher(
        "2024-01-02",
        json!([{"ledger_id": cash, "debit": 100}, {"ledger_id": capital, "credit": 100}]),
    )
    .await;
    let body409 = assert_error(api.delete(&at(cash)).await, 409, "conflict").await;
    assert!(body409.to_string().contains("voucher line"), "{body409}");

    // Viewers read, but do not change the chart.
    let (_, viewer) = api.new_user("viewer@led.example", "viewer").await;
    assert_eq!(viewer.get(&at(office)).await.status(), 200);
    assert_error(
        viewer.patch(&at(office), json!({"name": "X"})).await,
        403,
        "forbidden",
    )
    .await;
    assert_error(viewer.delete(&at(office)).await, 403, "forbidden").await;

    assert_eq!(api.delete(&at(office)).await.status(), 204);
    assert_error(api.get(&at(office)).await, 404, "not_found").await;
    assert_error(api.delete(&at(office)).await, 404, "not_found").await;
}

async fn users_are_managed_by_admins_only(dialect: Dialect) {
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

async fn vouchers_post_balanced_or_write_nothing(dialect: Dialect) {
    let app = TestApp::spawn(dialect).await;
    let api = Api::new(&app, "vch").await;
    let ids = api.ledgers().await;
    let (cash, bank, capital, sales) = (ids["1100"], ids["1200"], ids["3100"], ids["4100"]);
    let nothing = Counts {
        vouchers: 0,
        voucher_lines: 0,
        invoices: 0,
        invoice_lines: 0,
    };
    assert_eq!(api.counts().await, nothing);

    let created = body(
        api.post(
            "/api/v1/vouchers",
            json!({"date": "2024-03-01", "narration": "Owner invests", "lines": [
                {"ledger_id": bank, "debit": 100_000},
                {"ledger_id": capital, "credit": 100_000, "debit": 0},
            ]}),
        )
        .await,
        201,
    )
    .await;
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["date"], "2024-03-01");
    assert_eq!(created["narration"], "Owner invests");
    assert_eq!(created["total"], 100_000);
    assert_eq!(created["number"], format!("JV-{id:06}"));
    assert!(created["posted_at"].is_string());
    assert_eq!(
        created["lines"],
        json!([
            {"ledger_id": bank, "debit": 100_000, "credit": 0},
            {"ledger_id": capital, "debit": 0, "credit": 100_000},
        ])
    );
    let read = body(api.get(&format!("/api/v1/vouchers/{id}")).await, 200).await;
    assert_eq!(read, created);
    assert_error(api.get("/api/v1/vouchers/999999").await, 404, "not_found").await;
    let posted = api.counts().await;
    assert_eq!((posted.vouchers, posted.voucher_lines), (1, 2));

    // Refused: every problem is named, and nothing is written.
    let post = |date: &str, lines: Value| {
        api.post(
            "/api/v1/vouchers",
            json!({"date": date, "narration": "bad", "lines": lines}),
        )
    };
    let (fields, unbalanced) = invalid_fields(
        post(
            "2024-03-02",
            json!([{"ledger_id": bank, "debit": 10_000}, {"ledger_id": capital, "credit": 9_000}]),
        )
        .await,
    )
    .await;
    assert_eq!(fields, ["lines"]);
    assert!(
        message_of(&unbalanced, "lines").contains("debits 100.00 ≠ credits 90.00"),
        "{unbalanced}"
    );
    let (fields, _) = invalid_fields(
        post(
            "2024-03-02",
            json!([{"ledger_id": cash, "debit": 500}, {"ledger_id": 999_999, "credit": 500}]),
        )
        .await,
    )
    .await;
    assert_eq!(fields, ["lines[1].ledger_id"]);
    let (fields, _) = invalid_fields(
        post(
            "2024-02-30",
            json!([
                {"ledger_id": cash, "debit": 12.5},
                {"ledger_id": cash, "debit": 100, "credit": 100},
                {"ledger_id": "cash", "credit": -5},
                {"ledger_id": sales, "debit": "100"},
                {"ledger_id": sales},
            ]),
        )
        .await,
    )
    .await;
    assert_eq!(
        fields,
        [
            "date",
            "lines[0].debit",
            "lines[1]",
            "lines[2].ledger_id",
            "lines[2].credit",
            "lines[3].debit",
            "lines[4]",
        ]
    );
    for lines in [json!([]), json!([{"ledger_id": cash, "debit": 1}])] {
        let (fields, _) = invalid_fields(post("2024-03-02", lines).await).await;
        assert_eq!(fields, ["lines"]);
    }
    let (fields, _) = invalid_fields(
        api.post(
            "/api/v1/vouchers",
            json!({"lines": [{"ledger_id": cash, "amount": 1}, {"ledger_id": bank, "credit": 1}]}),
        )
        .await,
    )
    .await;
    assert_eq!(fields, ["body"], "an unknown field is refused, not ignored");
    assert_eq!(api.counts().await, posted);

    // A failure inside the transaction (after the voucher row is written) leaves nothing.
    api.fail_voucher_lines_debiting_4242().await;
    let res = post(
        "2024-03-03",
        json!([{"ledger_id": cash, "debit": 4242}, {"ledger_id": sales, "credit": 4242}]),
    )
    .await;
    let failed = assert_error(res, 500, "internal_error").await;
    assert!(
        !failed.to_string().contains("injected"),
        "cause leaked: {failed}"
    );
    assert_eq!(api.counts().await, posted);

    // Viewers read but do not post.
    let (_, viewer) = api.new_user("viewer@vch.example", "viewer").await;
    let lines = json!([{"ledger_id": cash, "debit": 1}, {"ledger_id": sales, "credit": 1}]);
    let res = viewer
        .post(
            "/api/v1/vouchers",
            json!({"date": "2024-03-04", "lines": lines.clone()}),
        )
        .await;
    assert_error(res, 403, "forbidden").await;
    let (_, accountant) = api.new_user("acc@vch.example", "accountant").await;
    let by_accountant = accountant.voucher("2024-01-15", lines.clone()).await;
    assert_eq!(by_accountant["narration"], "test");
    api.voucher("2024-05-01", lines).await;

    let page = body(viewer.get("/api/v1/vouchers").await, 200).await;
    assert_eq!(page["total"], 3);
    assert_eq!(dates(&page), ["2024-05-01", "2024-03-01", "2024-01-15"]);
    assert_eq!(page["data"][1], created, "lines come with each voucher");
    let after = api.counts().await;
    assert_eq!((after.vouchers, after.voucher_lines), (3, 6));
}

async fn invoices_are_totalled_by_the_server(dialect: Dialect) {
    let app = TestApp::spawn(dialect).await;
    let api = Api::new(&app, "inv").await;

    let created = body(
        api.post(
            "/api/v1/invoices",
            json!({"customer": "Globex", "date": "2024-04-01", "due_date": "2024-05-01",
            "lines": [
                {"description": "Widgets", "quantity": 3, "unit_price": 1250},
                {"description": "Setup", "quantity": 1, "unit_price": 9999},
                {"description": "Goodwill", "quantity": 2, "unit_price": 0},
            ]}),
        )
        .await,
        201,
    )
    .await;
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["number"], format!("INV-{id:06}"));
    assert_eq!(created["customer_name"], "Globex");
    assert_eq!(created["due_date"], "2024-05-01");
    assert_eq!(created["total"], 3 * 1250 + 9999);
    let amounts: Vec<i64> = created["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, [3750, 9999, 0]);
    assert_eq!(
        body(api.get(&format!("/api/v1/invoices/{id}")).await, 200).await,
        created
    );
    assert_error(api.get("/api/v1/invoices/999999").await, 404, "not_found").await;

    let own_number = json!({"number": "2024-0001", "customer_name": "Initech",
                            "date": "2024-04-02",
                            "lines": [{"description": "Consulting", "quantity": 10,
                                       "unit_price": 15_000}]});
    let second = body(api.post("/api/v1/invoices", own_number.clone()).await, 201).await;
    assert_eq!(second["number"], "2024-0001");
    assert_eq!(
        second["due_date"], "2024-04-02",
        "due on receipt by default"
    );
    assert_eq!(second["total"], 150_000);
    let stored = api.counts().await;
    assert_eq!((stored.invoices, stored.invoice_lines), (2, 4));

    assert_error(
        api.post("/api/v1/invoices", own_number).await,
        409,
        "conflict",
    )
    .await;
    let (fields, _) = invalid_fields(
        api.post(
            "/api/v1/invoices",
            json!({"number": "inv-000099", "customer": "X", "date": "2024-04-03",
                   "lines": [{"description": "Y", "quantity": 1, "unit_price": 1}]}),
        )
        .await,
    )
    .await;
    assert_eq!(
        fields,
        ["number"],
        "the generated numbers' shape is reserved"
    );
    let (fields, _) = invalid_fields(
        api.post(
            "/api/v1/invoices",
            json!({"customer": "", "date": "2024-04-10", "due_date": "2024-04-01", "lines": [
                {"description": "", "quantity": 0, "unit_price": -1, "ledger_id": 5},
                {"description": "Half", "quantity": 1.5, "unit_price": "10"},
            ]}),
        )
        .await,
    )
    .await;
    assert_eq!(
        fields,
        [
            "customer_name",
            "due_date",
            "lines[0].description",
            "lines[0].quantity",
            "lines[0].unit_price",
            "lines[0].ledger_id",
            "lines[1].quantity",
            "lines[1].unit_price",
        ]
    );
    let (fields, _) = invalid_fields(
        api.post(
            "/api/v1/invoices",
            json!({"customer": "Big", "date": "2024-04-03", "lines": [
                {"description": "A", "quantity": 1_000_000, "unit_price": 600_000_000},
                {"description": "B", "quantity": 1_000_000, "unit_price": 600_000_000},
            ]}),
        )
        .await,
    )
    .await;
    assert_eq!(fields, ["lines"], "a total over the limit is refused");
    let (fields, _) = invalid_fields(
        api.post(
            "/api/v1/invoices",
            json!({"customer": "X", "date": "2024-04-03", "total": 1, "lines": [
                {"description": "A", "quantity": 1, "unit_price": 3},
            ]}),
        )
        .await,
    )
    .await;
    assert_eq!(fields, ["body"], "the total is the server's to compute");
    let (fields, _) = invalid_fields(
        api.post(
            "/api/v1/invoices",
            json!({"customer": "X", "date": "2024-04-03"}),
        )
        .await,
    )
    .await;
    assert_eq!(fields, ["lines"]);
    assert_eq!(api.counts().await, stored);

    let (_, viewer) = api.new_user("viewer@inv.example", "viewer").await;
    let res = viewer
        .post(
            "/api/v1/invoices",
            json!({"customer": "X", "date": "2024-04-03",
                   "lines": [{"description": "Y", "quantity": 1, "unit_price": 1}]}),
        )
        .await;
    assert_error(res, 403, "forbidden").await;
    let page = body(viewer.get("/api/v1/invoices").await, 200).await;
    assert_eq!(page["total"], 2);
    assert_eq!(dates(&page), ["2024-04-02", "2024-04-01"]);
    assert_eq!(page["data"][1], created);
}

async fn trial_balance_reflects_posted_vouchers(dialect: Dialect) {
    let app = TestApp::spawn(dialect).await;
    let api = Api::new(&app, "tb").await;
    let ids = api.ledgers().await;
    let (cash, bank, capital, sales, rent) = (
        ids["1100"],
        ids["1200"],
        ids["3100"],
        ids["4100"],
        ids["5200"],
    );

    let empty = body(api.get("/api/v1/reports/trial-balance").await, 200).await;
    assert_eq!(empty["totals"], json!({"debit": 0, "credit": 0}));
    assert_eq!(
        empty["ledgers"].as_array().unwrap().len(),
        tenantry_app::DEFAULT_CHART.len()
    );

    api.voucher(
        "2024-01-10",
        json!([{"ledger_id": bank, "debit": 500_000}, {"ledger_id": capital, "credit": 500_000}]),
    )
    .await;
    api.voucher(
        "2024-02-01",
        json!([{"ledger_id": rent, "debit": 120_000}, {"ledger_id": bank, "credit": 120_000}]),
    )
    .await;
    api.voucher(
        "2024-02-15",
        json!([
            {"ledger_id": cash, "debit": 30_000},
            {"ledger_id": bank, "debit": 20_000},
            {"ledger_id": sales, "credit": 50_000},
        ]),
    )
    .await;

    let report = body(api.get("/api/v1/reports/trial-balance").await, 200).await;
    assert_eq!(
        report["totals"],
        json!({"debit": 670_000, "credit": 670_000})
    );
    let rows = report["ledgers"].as_array().unwrap();
    let codes: Vec<&str> = rows.iter().map(|r| r["code"].as_str().unwrap()).collect();
    let mut sorted = codes.clone();
    sorted.sort_unstable();
    assert_eq!(codes, sorted, "in code order");
    let by_id = |id: i64| rows.iter().find(|r| r["id"] == id).unwrap().clone();
    assert_eq!(
        by_id(bank),
        json!({"id": bank, "code": "1200", "name": "Bank", "type": "asset",
               "parent_id": ids["1000"], "debit": 520_000, "credit": 120_000,
               "balance": 400_000})
    );
    let balance = |id: i64| by_id(id)["balance"].as_i64().unwrap();
    assert_eq!(
        [
            balance(cash),
            balance(capital),
            balance(sales),
            balance(rent)
        ],
        [30_000, -500_000, -50_000, 120_000]
    );
    assert_eq!(
        balance(ids["1000"]),
        0,
        "a parent shows its own postings only"
    );
    let net: i64 = rows.iter().map(|r| r["balance"].as_i64().unwrap()).sum();
    assert_eq!(net, 0);

    let january = body(
        api.get("/api/v1/reports/trial-balance?as_of=2024-01-31")
            .await,
        200,
    )
    .await;
    assert_eq!(january["as_of"], "2024-01-31");
    assert_eq!(
        january["totals"],
        json!({"debit": 500_000, "credit": 500_000})
    );
    let (fields, _) = invalid_fields(
        api.get("/api/v1/reports/trial-balance?as_of=31/01/2024")
            .await,
    )
    .await;
    assert_eq!(fields, ["as_of"]);

    let (_, viewer) = api.new_user("viewer@tb.example", "viewer").await;
    let seen = body(viewer.get("/api/v1/reports/trial-balance").await, 200).await;
    assert_eq!(seen, report);
}

async fn other_tenants_ids_do_not_exist_here(dialect: Dialect) {
    let app = TestApp::spawn(dialect).await;
    let a = Api::new(&app, "a").await;
    let b = Api::new(&app, "b").await;
    let ids = a.ledgers().await;
    let lines = json!([{"ledger_id": ids["1100"], "debit": 700}, {"ledger_id": ids["4100"], "credit": 700}]);
    let voucher = a.voucher("2024-06-01", lines).await["id"].as_i64().unwrap();
    let invoice = body(
        a.post(
            "/api/v1/invoices",
            json!({"customer": "Only A", "date": "2024-06-01",
                   "lines": [{"description": "A", "quantity": 1, "unit_price": 700}]}),
        )
        .await,
        201,
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let (user, _) = a.new_user("someone@a.example", "viewer").await;
    let ledger = body(
        a.post(
            "/api/v1/ledgers",
            json!({"code": "9900", "name": "Only A", "type": "expense"}),
        )
        .await,
        201,
    )
    .await["id"]
        .as_i64()
        .unwrap();

    for path in [
        format!("/api/v1/vouchers/{voucher}"),
        format!("/api/v1/invoices/{invoice}"),
        format!("/api/v1/users/{user}"),
        format!("/api/v1/ledgers/{ledger}"),
    ] {
        assert_eq!(a.get(&path).await.status(), 200, "{path} on A");
        assert_error(b.get(&path).await, 404, "not_found").await;
    }
    assert_error(
        b.patch(&format!("/api/v1/users/{user}"), json!({"active": false}))
            .await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        b.delete(&format!("/api/v1/ledgers/{ledger}")).await,
        404,
        "not_found",
    )
    .await;
    // A voucher of B naming A's new ledger names no ledger of B's.
    let b_ids = b.ledgers().await;
    let (fields, _) = invalid_fields(
        b.post(
            "/api/v1/vouchers",
            json!({"date": "2024-06-01", "lines": [
                {"ledger_id": ledger, "debit": 1}, {"ledger_id": b_ids["4100"], "credit": 1},
            ]}),
        )
        .await,
    )
    .await;
    assert_eq!(fields, ["lines[0].ledger_id"]);
    let b_report = body(b.get("/api/v1/reports/trial-balance").await, 200).await;
    assert_eq!(b_report["totals"], json!({"debit": 0, "credit": 0}));
    assert_eq!(body(b.get("/api/v1/vouchers").await, 200).await["total"], 0);

    // A's token is no key to B, even for an id B happens to have too.
    let b_voucher = b
        .voucher(
            "2024-06-02",
            json!([{"ledger_id": b_ids["1100"], "debit": 5}, {"ledger_id": b_ids["4100"], "credit": 5}]),
        )
        .await;
    assert_eq!(b_voucher["id"], voucher, "ids are per tenant database");
    assert_eq!(b_voucher["total"], 5);
    let a_on_b = b.as_user(a.token.clone());
    assert_error(
        a_on_b.get(&format!("/api/v1/vouchers/{voucher}")).await,
        403,
        "wrong_tenant",
    )
    .await;
    let mine = body(a.get(&format!("/api/v1/vouchers/{voucher}")).await, 200).await;
    assert_eq!(mine["total"], 700);
}

async fn pagination_is_bounded_everywhere(dialect: Dialect) {
    let app = TestApp::spawn(dialect).await;
    let api = Api::new(&app, "pg").await;
    for list in [
        "/api/v1/ledgers",
        "/api/v1/users",
        "/api/v1/vouchers",
        "/api/v1/invoices",
    ] {
        for (query, field) in [
            ("limit=0", "limit"),
            ("limit=101", "limit"),
            ("limit=ten", "limit"),
            ("page=0", "page"),
            ("page=-1", "page"),
        ] {
            let (fields, _) = invalid_fields(api.get(&format!("{list}?{query}")).await).await;
            assert_eq!(fields, [field], "{list}?{query}");
        }
        let page = body(api.get(list).await, 200).await;
        assert_eq!(
            (page["page"].as_u64(), page["limit"].as_u64()),
            (Some(1), Some(50))
        );
    }

    let chart = tenantry_app::DEFAULT_CHART.len();
    let all = body(api.get("/api/v1/ledgers?limit=100").await, 200).await;
    assert_eq!(all["data"].as_array().unwrap().len(), chart);
    let last = body(api.get("/api/v1/ledgers?limit=10&page=3").await, 200).await;
    assert_eq!(last["data"].as_array().unwrap().len(), chart - 20);
    assert_eq!(last["total"], chart);
    // The ledger list's statement is built once and reused: each page is still its own slice of
    // the code order, and a page past the end still carries the total.
    let second = body(api.get("/api/v1/ledgers?limit=10&page=2").await, 200).await;
    assert_eq!(second["data"][0], all["data"][10]);
    assert_eq!(second["data"][9], all["data"][19]);
    let past = body(api.get("/api/v1/ledgers?limit=10&page=99").await, 200).await;
    assert_eq!(
        (
            past["data"].as_array().unwrap().len(),
            past["total"].as_u64()
        ),
        (0, Some(chart as u64))
    );

    let ids = api.ledgers().await;
    let lines =
        json!([{"ledger_id": ids["1100"], "debit": 1}, {"ledger_id": ids["4100"], "credit": 1}]);
    for day in ["2024-07-01", "2024-07-02", "2024-07-03"] {
        api.voucher(day, lines.clone()).await;
    }
    let sizes = [(2, 1, 2), (2, 2, 1), (2, 3, 0), (100, 1, 3)];
    for (limit, page, len) in sizes {
        let res = api
            .get(&format!("/api/v1/vouchers?limit={limit}&page={page}"))
            .await;
        let got = body(res, 200).await;
        assert_eq!(
            got["data"].as_array().unwrap().len(),
            len,
            "limit {limit} page {page}"
        );
        assert_eq!(
            (got["total"].as_u64(), got["limit"].as_u64()),
            (Some(3), Some(limit))
        );
    }
    let second = body(api.get("/api/v1/vouchers?limit=1&page=2").await, 200).await;
    assert_eq!(dates(&second), ["2024-07-02"]);
}
