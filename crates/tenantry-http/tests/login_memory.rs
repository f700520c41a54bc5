//! Memory under a burst of logins: password checks run on a fixed set of threads, so 200
//! concurrent argon2id checks (~19 MiB each) cost the process about `workers` × 19 MiB, not
//! 200 × 19 MiB, and that memory is not kept growing afterwards.
//!
//! The only test in this binary: another test running beside it would move the RSS.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::{TestApp, assert_error, unique};
use futures::future::join_all;
use serde_json::json;
use tenantry_test_utils::Dialect;

const MIB: u64 = 1024 * 1024;

/// The process's resident set, from /proc/self/status (`VmRSS: <n> kB`).
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

#[tokio::test]
async fn two_hundred_concurrent_wrong_logins_stay_within_bounded_memory() {
    // No throttling and room for every check: all 200 really run argon2id.
    let app = TestApp::spawn_with(Dialect::Postgres, |s| {
        s.security.login_attempts_per_ip_per_minute = 100_000;
        s.security.login_attempts_per_account_per_minute = 100_000;
        s.security.password_hash_queue = 256;
    })
    .await;
    let sub = unique("mem");
    app.create(&sub).await;
    let host = format!("{sub}.localhost");
    // Active once the directory's change feed has seen the activation.
    while app
        .get(&host, "/api/v1/ledgers")
        .send()
        .await
        .unwrap()
        .status()
        == 503
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The request path (HTTP, tenant pool, one check) is set up before the baseline.
    app.login(&sub).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let start = rss();

    let (peak, after) = burst(&app, &sub).await;
    let grew = peak.saturating_sub(start);
    let kept = after.saturating_sub(start);
    // The same again: nothing more to allocate, the memory is flat.
    let (peak2, after2) = burst(&app, &sub).await;
    eprintln!(
        "RSS: start {} MiB; burst 1: peak {} MiB (+{}), 1 s after {} MiB (+{}); \
         burst 2: peak {} MiB, 1 s after {} MiB",
        start / MIB,
        peak / MIB,
        grew / MIB,
        after / MIB,
        kept / MIB,
        peak2 / MIB,
        after2 / MIB,
    );
    assert!(grew < 100 * MIB, "peak grew by {} MiB", grew / MIB);
    // "Near": within 60 MiB of the start once the burst is over.
    assert!(kept < 60 * MIB, "{} MiB kept after the burst", kept / MIB);
    let more = after2.saturating_sub(after);
    assert!(
        more < 10 * MIB,
        "a second burst kept {} MiB more",
        more / MIB
    );
}

/// 200 concurrent wrong logins (all answered 401); the peak RSS sampled meanwhile, and the RSS
/// a second after.
async fn burst(app: &TestApp, sub: &str) -> (u64, u64) {
    let peak = Arc::new(AtomicU64::new(rss()));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = std::thread::spawn({
        let (peak, stop) = (peak.clone(), stop.clone());
        move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    });
    // Fresh connections: reusing ones the server may be closing as idle would be a race.
    let client = reqwest::Client::new();
    let host = format!("{sub}.localhost:{}", app.addr.port());
    let attempts = (0..200).map(|i| {
        let email = format!("user{}@{sub}.example", i % 20);
        client
            .post(app.url("/api/v1/auth/login"))
            .header("host", &host)
            .json(&json!({ "email": email, "password": "wrong password" }))
            .send()
    });
    let answers = join_all(attempts).await;
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    for res in answers {
        let res = res.unwrap();
        if res.status() != 401 {
            let status = res.status();
            panic!("expected 401, got {status}: {}", res.text().await.unwrap());
        }
        assert_error(res, 401, "invalid_credentials").await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    (peak.load(Ordering::Relaxed), rss())
}
