//! A tenant whose database is being switched (a restore, a move) is fenced: its requests wait
//! up to a second for the switch to end, then are answered 503 `tenant_maintenance` with
//! Retry-After; a switch that ends within the wait only delays them.

mod common;

use std::time::{Duration, Instant};

use common::{TestApp, time_until, unique};
use tenantry_registry::Fence;
use tenantry_test_utils::Dialect;

#[tokio::test]
async fn a_long_switch_is_answered_503_with_retry_after_after_a_wait() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    let sub = unique("fn");
    let tenant = app.create(&sub).await;
    let token = app.token(&tenant);
    let read = || async { app.read_chart(&sub, &token).await };
    assert_eq!(read().await.status, 200);

    app.registry
        .set_tenant_fence(tenant.id, Some(Fence::Restore))
        .await
        .unwrap();
    time_until(503, || async { read().await.status }).await;
    let started = Instant::now();
    let answer = read().await;
    let waited = started.elapsed();
    assert_eq!(answer.status, 503, "{:?}", answer.body);
    assert_eq!(answer.body["error"]["code"], "tenant_maintenance");
    assert!(answer.retry_after.is_some(), "no Retry-After");
    assert!(
        waited >= Duration::from_millis(900),
        "answered after {waited:?}, without waiting for the switch"
    );

    app.registry
        .set_tenant_fence(tenant.id, None)
        .await
        .unwrap();
    time_until(200, || async { read().await.status }).await;
}

#[tokio::test]
async fn a_switch_that_ends_within_the_wait_only_delays_requests() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    let sub = unique("fn");
    let tenant = app.create(&sub).await;
    let token = app.token(&tenant);
    let read = || async { app.read_chart(&sub, &token).await };

    app.registry
        .set_tenant_fence(tenant.id, Some(Fence::Move))
        .await
        .unwrap();
    time_until(503, || async { read().await.status }).await;
    // A request arrives while fenced; the fence lifts 200 ms later, inside its wait.
    let lift = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        app.registry
            .set_tenant_fence(tenant.id, None)
            .await
            .unwrap();
    };
    let (answer, ()) = tokio::join!(read(), lift);
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert!(answer.codes.is_some_and(|c| !c.is_empty()));
}
