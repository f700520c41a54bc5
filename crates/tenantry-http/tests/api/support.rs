//! What the scenarios share: a tenant seen through its API ([`Api`]) and the response helpers.

use std::collections::HashMap;

use reqwest::{Method, RequestBuilder, Response};
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, Statement};
use serde_json::{Value, json};
use tenantry_app::entity::{invoice, invoice_line, voucher, voucher_line};

use crate::common::{TestApp, assert_error, unique};

/// One tenant seen through its API, as one of its users.
pub(crate) struct Api<'a> {
    app: &'a TestApp,
    pub(crate) tenant: tenantry_registry::Tenant,
    pub(crate) host: String,
    pub(crate) token: String,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) vouchers: u64,
    pub(crate) voucher_lines: u64,
    pub(crate) invoices: u64,
    pub(crate) invoice_lines: u64,
}

impl<'a> Api<'a> {
    /// A new tenant, as its seeded admin.
    pub(crate) async fn new(app: &'a TestApp, prefix: &str) -> Self {
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
    pub(crate) fn as_user(&self, token: String) -> Self {
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

    pub(crate) async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).send().await.unwrap()
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> Response {
        self.request(Method::POST, path)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub(crate) async fn patch(&self, path: &str, body: Value) -> Response {
        self.request(Method::PATCH, path)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub(crate) async fn delete(&self, path: &str) -> Response {
        self.request(Method::DELETE, path).send().await.unwrap()
    }

    pub(crate) async fn login(&self, email: &str, password: &str) -> Response {
        self.post(
            "/api/v1/auth/login",
            json!({"email": email, "password": password}),
        )
        .await
    }

    /// Creates a user with `role` and logs them in: (id, a client acting as them).
    pub(crate) async fn new_user(&self, email: &str, role: &str) -> (i64, Api<'a>) {
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
    pub(crate) async fn ledgers(&self) -> HashMap<String, i64> {
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

    pub(crate) async fn voucher(&self, date: &str, lines: Value) -> Value {
        let res = self
            .post(
                "/api/v1/vouchers",
                json!({"date": date, "narration": "test", "lines": lines}),
            )
            .await;
        body(res, 201).await
    }

    /// Rows in the tenant database, read directly (not through the API).
    pub(crate) async fn counts(&self) -> Counts {
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
    pub(crate) async fn fail_voucher_lines_debiting_4242(&self) {
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

pub(crate) const USER_PASSWORD: &str = "correct horse battery staple";

/// Asserts the status and returns the JSON body.
pub(crate) async fn body(res: Response, status: u16) -> Value {
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
pub(crate) async fn invalid_fields(res: Response) -> (Vec<String>, Value) {
    let body = assert_error(res, 422, "validation_failed").await;
    let fields = body["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_owned())
        .collect();
    (fields, body)
}

pub(crate) fn message_of<'v>(body: &'v Value, field: &str) -> &'v str {
    body["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == field)
        .unwrap_or_else(|| panic!("no field {field} in {body}"))["message"]
        .as_str()
        .unwrap()
}

pub(crate) fn dates(page: &Value) -> Vec<&str> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["date"].as_str().unwrap())
        .collect()
}
