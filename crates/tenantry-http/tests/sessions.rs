//! A user's sessions end when their credentials change: a password reset, disabling, a role
//! change or deletion invalidates every token issued before — at once in the instance that made
//! the change, and within a second in every other instance on the same master.

mod common;

use std::time::Duration;

use common::{TestApp, unique};
use serde_json::{Value, json};
use tenantry_test_utils::Dialect;

const PASSWORD: &str = "a-long-user-password";

struct Tenant<'a> {
    app: &'a TestApp,
    host: String,
    admin: String,
}

impl<'a> Tenant<'a> {
    async fn new(app: &'a TestApp) -> Self {
        let sub = unique("ses");
        app.create(&sub).await;
        let admin = app.login(&sub).await;
        Self {
            app,
            host: format!("{sub}.localhost"),
            admin,
        }
    }

    /// A new accountant, logged in: (id, token).
    async fn user(&self) -> (i64, String) {
        let email = format!("{}@example.com", unique("u"));
        let res = self
            .app
            .post(&self.host, "/api/v1/users")
            .bearer_auth(&self.admin)
            .json(&json!({"email": email, "name": "U", "password": PASSWORD, "role": "accountant"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        let res = self
            .app
            .post(&self.host, "/api/v1/auth/login")
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let token = res.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        (id, token)
    }

    async fn change(&self, id: i64, patch: Value) {
        let res = self
            .app
            .client
            .patch(self.app.url(&format!("/api/v1/users/{id}")))
            .header("host", format!("{}:{}", self.host, self.app.addr.port()))
            .bearer_auth(&self.admin)
            .json(&patch)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{patch}");
    }

    async fn status_at(&self, addr: std::net::SocketAddr, token: &str) -> u16 {
        self.app
            .get_at(addr, &self.host, "/api/v1/ledgers?limit=1")
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

async fn changes_end_sessions_at_once(dialect: Dialect) {
    let app = TestApp::spawn(dialect).await;
    let t = Tenant::new(&app).await;
    for patch in [
        json!({"password": "another-long-password"}),
        json!({"active": false}),
        json!({"role": "viewer"}),
    ] {
        let (id, token) = t.user().await;
        assert_eq!(t.status_at(app.addr, &token).await, 200);
        t.change(id, patch.clone()).await;
        assert_eq!(t.status_at(app.addr, &token).await, 401, "after {patch}");
    }
    // Deletion of a user who never wrote anything.
    let (id, token) = t.user().await;
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/users/{id}")))
        .header("host", format!("{}:{}", t.host, app.addr.port()))
        .bearer_auth(&t.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(t.status_at(app.addr, &token).await, 401);
    // A re-enabled user's tokens from before stay dead; a new login works.
    let (id, token) = t.user().await;
    t.change(id, json!({"active": false})).await;
    t.change(id, json!({"active": true})).await;
    assert_eq!(t.status_at(app.addr, &token).await, 401);
    // A change that vouches for nothing new (the name) ends nothing.
    let (id, token) = t.user().await;
    t.change(id, json!({"name": "Renamed"})).await;
    assert_eq!(t.status_at(app.addr, &token).await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn credential_changes_end_sessions_at_once_sqlite() {
    changes_end_sessions_at_once(Dialect::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn credential_changes_end_sessions_at_once_postgres() {
    changes_end_sessions_at_once(Dialect::Postgres).await;
}

/// A second instance on the same PostgreSQL master learns of the change through the registry
/// change feed within a second, although it had the user's status cached.
#[tokio::test(flavor = "multi_thread")]
async fn other_instances_end_sessions_within_a_second() {
    let app = TestApp::spawn(Dialect::Postgres).await;
    let other = app.second_instance();
    let t = Tenant::new(&app).await;
    for patch in [
        json!({"password": "another-long-password"}),
        json!({"active": false}),
        json!({"role": "viewer"}),
    ] {
        let (id, token) = t.user().await;
        // Cached as valid on the other instance.
        common::time_until(200, || t.status_at(other.addr, &token)).await;
        t.change(id, patch.clone()).await;
        let took = common::time_until(401, || t.status_at(other.addr, &token)).await;
        assert!(
            took < Duration::from_secs(1),
            "{patch}: refused after {took:?}"
        );
    }
}
