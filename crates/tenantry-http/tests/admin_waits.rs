//! `GET /admin/v1/operations/{id}` with `Prefer: wait=N`: the wait ends when the operation does
//! (it may run in another process: the master is re-read), and a process grants only so many
//! waits at once: beyond them, the operation is answered as it stands, at once.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::TestApp;
use common::admin::APEX;
use serde_json::{Value, json};
use tenantry_registry::{OperationKind, OperationState};
use tenantry_test_utils::Dialect;
use uuid::Uuid;

/// The waits one process grants at once (`admin/operation.rs`).
const MAX_WAITERS: usize = 64;

/// An operation recorded as running that nobody works on: as if run by another process.
async fn running_elsewhere(app: &TestApp) -> Uuid {
    let op = app
        .registry
        .start_operation(
            OperationKind::FleetMigrate,
            None,
            "migrate",
            json!({}),
            None,
        )
        .await
        .unwrap();
    op.id
}

async fn wait_on(app: &TestApp, token: &str, op: Uuid, secs: u64) -> (Duration, Value) {
    let started = Instant::now();
    let res = app
        .get(APEX, &format!("/admin/v1/operations/{op}"))
        .bearer_auth(token)
        .header("prefer", format!("wait={secs}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = res.json().await.unwrap();
    (started.elapsed(), body)
}

#[tokio::test]
async fn a_wait_ends_when_the_operation_ends_elsewhere() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    let token = app.admin_token("viewer").await;
    let op = running_elsewhere(&app).await;
    let registry = app.registry.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(700)).await;
        registry
            .finish_operation(op, OperationState::Succeeded, None)
            .await
            .unwrap();
    });

    let (took, body) = wait_on(&app, &token, op, 30).await;
    assert_eq!(body["state"], "succeeded", "{body}");
    assert!(took >= Duration::from_millis(600), "{took:?}");
    assert!(
        took < Duration::from_secs(5),
        "re-read often enough: {took:?}"
    );
}

#[tokio::test]
async fn waits_beyond_the_limit_are_answered_at_once() {
    let app = Arc::new(TestApp::spawn(Dialect::Sqlite).await);
    let token = app.admin_token("viewer").await;
    let op = running_elsewhere(&app).await;

    let (took, body) = wait_on(&app, &token, op, 1).await;
    assert_eq!(body["state"], "running", "{body}");
    assert!(
        took >= Duration::from_millis(900),
        "a granted wait: {took:?}"
    );

    let waiting: Vec<_> = (0..MAX_WAITERS)
        .map(|_| {
            let (app, token) = (app.clone(), token.clone());
            tokio::spawn(async move { wait_on(&app, &token, op, 6).await })
        })
        .collect();
    // Every waiter is in (each holds its grant for 6 s).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (took, body) = wait_on(&app, &token, op, 6).await;
    assert_eq!(body["state"], "running", "{body}");
    assert!(
        took < Duration::from_secs(2),
        "not granted, answered at once: {took:?}"
    );

    for waiter in waiting {
        let (took, body) = waiter.await.unwrap();
        assert_eq!(body["state"], "running", "{body}");
        assert!(took >= Duration::from_secs(5), "granted: {took:?}");
    }
    let (took, _) = wait_on(&app, &token, op, 1).await;
    assert!(
        took >= Duration::from_millis(900),
        "grants come back: {took:?}"
    );
}
