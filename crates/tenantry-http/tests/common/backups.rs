//! Backups over the admin API: long actions waited for, and a tenant's chart of accounts read
//! back to tell one copy of its data from another.

use serde_json::{Value, json};

use super::TestApp;
use super::admin::APEX;

/// A PostgreSQL dump or restore runs external tools for a few seconds: wait up to the maximum.
pub const WAIT: &str = "wait=60";

/// One `GET /api/v1/ledgers` as a client saw it.
#[derive(Debug, Clone)]
pub struct Read {
    pub status: u16,
    pub retry_after: Option<String>,
    /// The ledgers' codes on a 200, in code order.
    pub codes: Option<Vec<String>>,
    pub body: Value,
}

/// `GET /api/v1/ledgers` (one page holds the whole chart) on the tenant's `host`, as `token`.
/// A free function, so a reader task can run it without borrowing the app.
pub async fn read_ledgers(client: &reqwest::Client, url: &str, host: &str, token: &str) -> Read {
    let res = client
        .get(url)
        .header("host", host)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = res.json().await.unwrap_or(Value::Null);
    let codes = (status == 200).then(|| {
        let data = body["data"].as_array().expect("a page of ledgers");
        assert_eq!(
            body["total"],
            data.len(),
            "the whole chart on one page: {body}"
        );
        data.iter()
            .map(|l| l["code"].as_str().unwrap().to_owned())
            .collect()
    });
    Read {
        status,
        retry_after,
        codes,
        body,
    }
}

impl TestApp {
    /// `POST path` on the admin API as `token`, waiting for the operation; its status and body.
    pub async fn admin_action(&self, token: &str, path: &str, body: &Value) -> (u16, Value) {
        let res = self
            .post(APEX, path)
            .bearer_auth(token)
            .header("prefer", WAIT)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap())
    }

    /// Backs `tenant` up over the admin API and returns the completed backup.
    pub async fn take_backup(&self, token: &str, tenant: &str) -> Value {
        let path = format!("/admin/v1/tenants/{tenant}/backups");
        let (status, op) = self.admin_action(token, &path, &json!({})).await;
        assert_eq!(status, 200, "{op}");
        assert_eq!(op["state"], "succeeded", "{op}");
        let backup = op["result"].clone();
        assert_eq!(backup["state"], "completed", "{backup}");
        backup
    }

    /// `DELETE /admin/v1/tenants/{sub}` with `body`, waited for; the operation must succeed.
    pub async fn delete_tenant(&self, token: &str, sub: &str, body: Value) {
        let res = self
            .admin_delete(&format!("/admin/v1/tenants/{sub}"))
            .bearer_auth(token)
            .header("prefer", WAIT)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let op: Value = res.json().await.unwrap();
        assert_eq!(op["state"], "succeeded", "{op}");
    }

    /// `GET /api/v1/ledgers` on tenant `sub`, whatever it answers.
    pub async fn read_chart(&self, sub: &str, token: &str) -> Read {
        let url = self.url("/api/v1/ledgers?limit=100");
        read_ledgers(&self.client, &url, &self.tenant_host(sub), token).await
    }

    /// The codes of the ledgers of tenant `sub`, which must answer 200.
    pub async fn ledger_codes(&self, sub: &str, token: &str) -> Vec<String> {
        let read = self.read_chart(sub, token).await;
        assert_eq!(read.status, 200, "{}", read.body);
        read.codes.unwrap()
    }

    /// Adds ledger `code` to tenant `sub`'s chart.
    pub async fn add_ledger(&self, sub: &str, token: &str, code: &str) {
        let res = self
            .post(&format!("{sub}.localhost"), "/api/v1/ledgers")
            .bearer_auth(token)
            .json(&json!({"code": code, "name": format!("Ledger {code}"), "type": "asset"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    }

    /// The Host header value of tenant `sub`.
    pub fn tenant_host(&self, sub: &str) -> String {
        format!("{sub}.localhost:{}", self.addr.port())
    }
}
