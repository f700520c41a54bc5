//! A tenant's plan includes so many active users (`max_users`): one more is 403
//! `plan_limit_reached`, creating or re-enabling alike; disabled users free their seat; a plan
//! change applies at once; and concurrent creations cannot both take the last seat.

mod common;

use common::{TestApp, assert_error, request, unique};
use serde_json::{Value, json};
use tenantry_core::PlanId;
use tenantry_registry::Tenant;
use tenantry_test_utils::Dialect;

/// The `free` plan (migrations-master V5) includes 5 users; the seeded tenant admin is one.
const FREE_SEATS: usize = 5;

struct Seats {
    app: TestApp,
    host: String,
    admin: String,
}

impl Seats {
    async fn on_free_plan(dialect: Dialect) -> (Self, Tenant) {
        let app = TestApp::spawn(dialect).await;
        let subdomain = unique("seats");
        let mut create = request(&subdomain);
        create.plan = PlanId::parse("free").unwrap();
        let tenant = app.provisioner.create(create).await.unwrap().tenant;
        let admin = app.login(&subdomain).await;
        let host = format!("{subdomain}.localhost");
        (Self { app, host, admin }, tenant)
    }

    async fn add(&self, n: usize) -> reqwest::Response {
        let email = format!("user{n}@seats.example");
        self.app
            .post(&self.host, "/api/v1/users")
            .bearer_auth(&self.admin)
            .json(&json!({"email": email, "name": "U", "password": "seat-password-1", "role": "accountant"}))
            .send()
            .await
            .unwrap()
    }

    async fn set_active(&self, id: i64, active: bool) -> reqwest::Response {
        self.app
            .client
            .patch(self.app.url(&format!("/api/v1/users/{id}")))
            .header("host", format!("{}:{}", self.host, self.app.addr.port()))
            .bearer_auth(&self.admin)
            .json(&json!({ "active": active }))
            .send()
            .await
            .unwrap()
    }
}

async fn plan_limits_users_created_and_reenabled(dialect: Dialect) {
    let (seats, tenant) = Seats::on_free_plan(dialect).await;
    let mut ids = Vec::new();
    for n in 1..FREE_SEATS {
        let res = seats.add(n).await;
        assert_eq!(res.status(), 201, "{dialect:?} user {n}");
        ids.push(res.json::<Value>().await.unwrap()["id"].as_i64().unwrap());
    }
    let body = assert_error(seats.add(FREE_SEATS).await, 403, "plan_limit_reached").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("5 active users"),
        "{body}"
    );

    // A disabled user frees a seat; re-enabling them while it is taken is refused.
    assert_eq!(seats.set_active(ids[0], false).await.status(), 200);
    assert_eq!(seats.add(FREE_SEATS).await.status(), 201, "{dialect:?}");
    assert_error(
        seats.set_active(ids[0], true).await,
        403,
        "plan_limit_reached",
    )
    .await;

    // A larger plan applies at once.
    let registry = &seats.app.registry;
    let patch = tenantry_registry::TenantPatch {
        plan: Some(PlanId::parse("standard").unwrap()),
        ..Default::default()
    };
    let audit = tenantry_registry::Origin::from(tenantry_registry::Actor::System).entry(
        "tenant.update",
        Some(tenant.id),
        json!({}),
    );
    registry
        .update_tenant(tenant.id, patch, audit)
        .await
        .unwrap();
    assert_eq!(
        seats.set_active(ids[0], true).await.status(),
        200,
        "{dialect:?}"
    );
    assert_eq!(seats.add(FREE_SEATS + 1).await.status(), 201, "{dialect:?}");
}

#[tokio::test]
async fn the_plan_limits_active_users_sqlite() {
    plan_limits_users_created_and_reenabled(Dialect::Sqlite).await;
}

#[tokio::test]
async fn the_plan_limits_active_users_postgres() {
    plan_limits_users_created_and_reenabled(Dialect::Postgres).await;
}

/// One seat left, eight creations at once: exactly one gets it.
#[tokio::test]
async fn concurrent_creations_cannot_both_take_the_last_seat() {
    let (seats, _) = Seats::on_free_plan(Dialect::Postgres).await;
    for n in 1..FREE_SEATS - 1 {
        assert_eq!(seats.add(n).await.status(), 201);
    }
    let racing = (0..8).map(|i| seats.add(100 + i));
    let statuses: Vec<u16> = futures::future::join_all(racing)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    let created = statuses.iter().filter(|s| **s == 201).count();
    assert_eq!(created, 1, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| [201, 403].contains(s)),
        "{statuses:?}"
    );
}
