//! The registry change feed: a lifecycle change made elsewhere (another process, the CLI — here
//! the provisioner, which tells the HTTP layer nothing) is enforced by `serve` within a second,
//! and a deleted tenant's data is never returned after that second. Unknown hosts cost the
//! master a bounded number of lookups, however many arrive.

mod common;

use std::time::{Duration, Instant};
use tenantry_registry::Actor;

use common::{TestApp, unique};
use futures::StreamExt as _;
use tenantry_test_utils::Dialect;

/// Polls `GET /api/v1/ledgers` until it answers `want`; returns how long that took.
async fn seen_within(app: &TestApp, host: &str, token: &str, want: u16) -> Duration {
    let took = common::time_until(want, || async {
        app.get(host, "/api/v1/ledgers?limit=1")
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    })
    .await;
    eprintln!("{host}: {want} after {took:?}");
    took
}

async fn lifecycle_changes_are_enforced_within_a_second(dialect: Dialect) {
    let app = TestApp::spawn(dialect).await;
    let sub = unique("feed");
    let tenant = app.create(&sub).await;
    let token = app.token(&tenant);
    let host = format!("{sub}.localhost");
    seen_within(&app, &host, &token, 200).await;

    app.provisioner
        .suspend(&sub.as_str().into(), "audit", &Actor::System.into())
        .await
        .unwrap();
    let took = seen_within(&app, &host, &token, 403).await;
    assert!(
        took < Duration::from_secs(1),
        "suspension seen after {took:?}"
    );

    app.provisioner
        .reactivate(&sub.as_str().into(), &Actor::System.into())
        .await
        .unwrap();
    let took = seen_within(&app, &host, &token, 200).await;
    assert!(
        took < Duration::from_secs(1),
        "reactivation seen after {took:?}"
    );

    app.provisioner
        .delete(&sub.as_str().into(), &sub, &Actor::System.into())
        .await
        .unwrap();
    let took = seen_within(&app, &host, &token, 404).await;
    assert!(
        took < Duration::from_secs(1),
        "deletion seen after {took:?}"
    );
    // Never again, not even once, however the requests interleave.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(1) {
        let statuses: Vec<u16> = futures::stream::iter(0..8)
            .map(|_| async {
                app.get(&host, "/api/v1/ledgers?limit=1")
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
            .buffer_unordered(8)
            .collect()
            .await;
        assert!(statuses.iter().all(|s| *s == 404), "{statuses:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_changes_are_enforced_within_a_second_sqlite() {
    lifecycle_changes_are_enforced_within_a_second(Dialect::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_changes_are_enforced_within_a_second_postgres() {
    lifecycle_changes_are_enforced_within_a_second(Dialect::Postgres).await;
}

/// 10,000 random Hosts in a burst: known tenants and `/readyz` keep answering 200, and the
/// master is asked about at most a bounded number of them.
#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_random_hosts_costs_the_master_a_bounded_number_of_lookups() {
    const HOSTS: usize = 10_000;
    let app = TestApp::spawn(Dialect::Postgres).await;
    let sub = unique("known");
    let tenant = app.create(&sub).await;
    let token = app.token(&tenant);
    let host = format!("{sub}.localhost");
    seen_within(&app, &host, &token, 200).await;
    let before = app.state.directory.master_lookups();

    let started = Instant::now();
    let app = &app;
    let flood = futures::stream::iter(0..HOSTS)
        .map(|i| {
            let random = format!(
                "r{i}x{}.localhost",
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            );
            async move {
                app.get(&random, "/api/v1/ledgers")
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<u16>>();
    let known = async {
        let mut answers = Vec::new();
        while answers.len() < 200 {
            let tenant = app
                .get(&host, "/api/v1/ledgers?limit=1")
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16();
            let ready = app
                .client
                .get(app.url("/readyz"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16();
            answers.push((tenant, ready));
        }
        answers
    };
    let (flood, known) = tokio::join!(flood, known);
    let elapsed = started.elapsed();
    assert!(flood.iter().all(|s| *s == 404), "random hosts are unknown");
    assert!(known.iter().all(|a| *a == (200, 200)), "{known:?}");
    let lookups = app.state.directory.master_lookups() - before;
    let bound = u64::from(tenantry_http::directory::MISS_LOOKUPS_PER_SEC) * (elapsed.as_secs() + 2);
    eprintln!("{HOSTS} random hosts in {elapsed:?}: {lookups} master lookups (bound {bound})");
    assert!(
        lookups <= bound,
        "{lookups} master lookups for {HOSTS} hosts in {elapsed:?}"
    );
}

/// A change made by this process is seen at once: `TenantDirectory::refresh` re-reads the
/// tenant without waiting for the feed.
#[tokio::test(flavor = "multi_thread")]
async fn refresh_applies_a_change_at_once() {
    let app = TestApp::spawn_with(Dialect::Sqlite, |s| {
        // So slow that only `refresh` can explain a prompt answer.
        s.registry.poll_interval_ms = 60_000;
    })
    .await;
    let sub = unique("now");
    let tenant = app.create(&sub).await;
    let token = app.token(&tenant);
    let host = format!("{sub}.localhost");
    seen_within(&app, &host, &token, 200).await;
    app.provisioner
        .suspend(&sub.as_str().into(), "audit", &Actor::System.into())
        .await
        .unwrap();
    app.state.directory.refresh(tenant.id).await.unwrap();
    let res = app
        .get(&host, "/api/v1/ledgers?limit=1")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}
