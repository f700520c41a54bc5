//! Login under attack: attempts are throttled per client and per account before they cost a
//! database query or a password check, the client is the socket peer unless a trusted proxy
//! says otherwise, a saturated password checker answers 503 at once, and other tenants keep
//! being served meanwhile.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{ADMIN_PASSWORD, TestApp, assert_error, unique};
use futures::future::join_all;
use reqwest::Response;
use serde_json::json;
use tenantry_test_utils::Dialect;

async fn attempt(app: &TestApp, sub: &str, email: &str, password: &str) -> Response {
    attempt_from(app, sub, email, password, None).await
}

async fn attempt_from(
    app: &TestApp,
    sub: &str,
    email: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> Response {
    let mut req = app
        .post(&format!("{sub}.localhost"), "/api/v1/auth/login")
        .json(&json!({ "email": email, "password": password }));
    if let Some(xff) = forwarded_for {
        req = req.header("x-forwarded-for", xff);
    }
    req.send().await.unwrap()
}

/// A new tenant, once the server answers for it as active (the directory learns of the
/// activation from its change feed). Probed without logging in, so no quota is spent.
async fn create(app: &TestApp, sub: &str) -> tenantry_registry::Tenant {
    let tenant = app.create(sub).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let res = app
            .get(&format!("{sub}.localhost"), "/api/v1/ledgers")
            .send()
            .await;
        if res.unwrap().status() != 503 {
            return tenant;
        }
        assert!(Instant::now() < deadline, "{sub} never became active");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn admin(sub: &str) -> String {
    format!("admin@{sub}.example")
}

/// Asserts a 401 for wrong credentials (showing any other answer in full).
async fn wrong(res: Response) {
    if res.status() != 401 {
        let status = res.status();
        panic!("expected 401, got {status}: {}", res.text().await.unwrap());
    }
    assert_error(res, 401, "invalid_credentials").await;
}

/// Asserts a 429 and returns its Retry-After.
async fn throttled(res: Response) -> u64 {
    if res.status() != 429 {
        let status = res.status();
        panic!("expected 429, got {status}: {}", res.text().await.unwrap());
    }
    let retry_after = res
        .headers()
        .get("retry-after")
        .expect("Retry-After on a 429")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_error(res, 429, "too_many_requests").await;
    retry_after
}

#[tokio::test]
async fn the_31st_attempt_on_one_account_within_a_minute_is_429() {
    // Room for 30 checks at once, so every attempt below is judged by the throttle alone.
    let app = TestApp::spawn_with(Dialect::Sqlite, |s| s.security.password_hash_queue = 64).await;
    let sub = unique("acct");
    create(&app, &sub).await;

    // The default quota is 30 a minute, refilled one every 2 s, so the attempts beyond it must
    // come within 2 s of the first. They are not held back until the 30 checks (which queue
    // for the workers) have finished: the throttle has counted those on arrival.
    let started = Instant::now();
    let email = admin(&sub);
    let guesses = join_all((0..30).map(|_| attempt(&app, &sub, &email, "wrong password")));
    let more = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        // Same account, however the email is typed.
        let res = attempt(&app, &sub, &email.to_uppercase(), "wrong password").await;
        let retry_after = throttled(res).await;
        // The right password is refused too: the throttle counts attempts, not failures.
        throttled(attempt(&app, &sub, &email, ADMIN_PASSWORD).await).await;
        (retry_after, started.elapsed())
    };
    let (guesses, (retry_after, took)) = tokio::join!(guesses, more);
    assert!((1..=2).contains(&retry_after), "Retry-After {retry_after}");
    assert!(
        took < Duration::from_secs(2),
        "the 31st and 32nd attempts came after {took:?}"
    );
    for res in guesses {
        wrong(res).await;
    }

    // Another account of the same tenant is not affected.
    let res = attempt(
        &app,
        &sub,
        &format!("nobody@{sub}.example"),
        "wrong password",
    )
    .await;
    wrong(res).await;
}

#[tokio::test]
async fn one_client_is_limited_across_accounts_and_tenants() {
    let app = TestApp::spawn_with(Dialect::Sqlite, |s| {
        s.security.login_attempts_per_ip_per_minute = 5;
    })
    .await;
    let (a, b) = (unique("ipa"), unique("ipb"));
    create(&app, &a).await;
    create(&app, &b).await;
    for (i, sub) in [&a, &b, &a, &b, &a].into_iter().enumerate() {
        let res = attempt(&app, sub, &format!("user{i}@{sub}.example"), "guess").await;
        wrong(res).await;
    }
    // Sixth attempt: a fresh account, even the right password, is refused for this client.
    let retry_after = throttled(attempt(&app, &b, &admin(&b), ADMIN_PASSWORD).await).await;
    // One attempt refills every 12 s.
    assert!(
        (11..=12).contains(&retry_after),
        "Retry-After {retry_after}"
    );
}

#[tokio::test]
async fn a_trusted_proxy_names_the_client_and_an_untrusted_peer_cannot() {
    let limited = |proxies: &'static str| {
        move |s: &mut tenantry_core::Settings| {
            s.security.login_attempts_per_ip_per_minute = 2;
            s.server.trusted_proxies = vec![proxies.parse().unwrap()];
        }
    };
    // The test client connects from 127.0.0.1: a trusted proxy here.
    let app = TestApp::spawn_with(Dialect::Sqlite, limited("127.0.0.0/8")).await;
    let sub = unique("xff");
    create(&app, &sub).await;
    let email = admin(&sub);
    for _ in 0..2 {
        let res = attempt_from(&app, &sub, &email, "guess", Some("203.0.113.7")).await;
        wrong(res).await;
    }
    let res = attempt_from(&app, &sub, &email, "guess", Some("203.0.113.7")).await;
    throttled(res).await;
    // A client cannot escape by prepending addresses: the proxy's entry is the right-most.
    let spoofed = Some("198.51.100.1, 203.0.113.7");
    throttled(attempt_from(&app, &sub, &email, "guess", spoofed).await).await;
    // Another client behind the same proxy has its own quota.
    let res = attempt_from(&app, &sub, &email, ADMIN_PASSWORD, Some("203.0.113.8")).await;
    assert_eq!(res.status(), 200);

    // Here 127.0.0.1 is not a trusted proxy: its header is ignored, the peer is the client.
    let app = TestApp::spawn_with(Dialect::Sqlite, limited("10.0.0.0/8")).await;
    let sub = unique("xff");
    create(&app, &sub).await;
    for i in 1..=2 {
        let xff = format!("203.0.113.{i}");
        let res = attempt_from(&app, &sub, &admin(&sub), "guess", Some(&xff)).await;
        wrong(res).await;
    }
    let res = attempt_from(&app, &sub, &admin(&sub), "guess", Some("203.0.113.3")).await;
    throttled(res).await;
}

#[tokio::test]
async fn a_saturated_password_checker_answers_503_busy() {
    let app = TestApp::spawn_with(Dialect::Sqlite, |s| {
        s.security.password_hash_workers = 1;
        s.security.password_hash_queue = 1;
    })
    .await;
    let sub = unique("busy");
    create(&app, &sub).await;
    let (app, sub) = (&app, &sub);
    let burst = (0..24).map(|i| async move {
        let started = Instant::now();
        let res = attempt(app, sub, &format!("u{i}@{sub}.example"), "guess").await;
        (res, started.elapsed())
    });
    let (mut checked, mut busy) = (0, 0);
    let mut slowest_busy = Duration::ZERO;
    for (res, took) in join_all(burst).await {
        if res.status() == 503 {
            assert_eq!(res.headers()["retry-after"], "1");
            assert_error(res, 503, "busy").await;
            busy += 1;
            slowest_busy = slowest_busy.max(took);
        } else {
            wrong(res).await;
            checked += 1;
        }
    }
    assert!(
        checked >= 2,
        "one check running and one queued are always accepted"
    );
    assert!(
        busy >= 1,
        "24 concurrent checks on 1 worker + 1 slot: none refused"
    );
    eprintln!("busy: {checked} checked, {busy} refused, slowest refusal {slowest_busy:?}");
    // Once the burst is over the checker serves again.
    assert!(!app.login(sub).await.is_empty());
}

#[tokio::test]
async fn other_tenants_are_served_throughout_a_burst_of_wrong_logins() {
    let app = TestApp::spawn(Dialect::Postgres).await;
    let (victim, neighbour) = (unique("burst"), unique("calm"));
    create(&app, &victim).await;
    let calm = create(&app, &neighbour).await;
    let token = app.token(&calm);
    let host = format!("{neighbour}.localhost");
    // The neighbour's connection is open before the burst, as it would be on a live server.
    let res = app
        .get(&host, "/api/v1/ledgers")
        .bearer_auth(&token)
        .send()
        .await;
    assert_eq!(res.unwrap().status(), 200);

    let done = AtomicBool::new(false);
    let burst = async {
        let statuses = join_all((0..100).map(|i| {
            let email = format!("u{}@{victim}.example", i % 10);
            let (app, victim) = (&app, &victim);
            async move {
                attempt(app, victim, &email, "guess")
                    .await
                    .status()
                    .as_u16()
            }
        }))
        .await;
        done.store(true, Ordering::Relaxed);
        statuses
    };
    let reads = async {
        let mut latencies = Vec::new();
        while !done.load(Ordering::Relaxed) {
            let started = Instant::now();
            let res = app
                .get(&host, "/api/v1/ledgers")
                .bearer_auth(&token)
                .send()
                .await;
            let res = res.unwrap();
            let status = res.status().as_u16();
            let body = res.text().await.unwrap();
            latencies.push((status, started.elapsed(), body));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        latencies
    };
    let (statuses, reads) = tokio::join!(burst, reads);
    // The burst really saturated the login path (busy or throttled, not just checked).
    assert!(
        statuses.iter().all(|s| [401, 429, 503].contains(s)),
        "{statuses:?}"
    );
    assert!(statuses.iter().any(|s| *s != 401), "{statuses:?}");
    let mut took: Vec<_> = reads.iter().map(|(_, t, _)| *t).collect();
    took.sort();
    let (median, slowest) = (took[took.len() / 2], took[took.len() - 1]);
    for (status, took, body) in &reads {
        assert_eq!(
            *status, 200,
            "a neighbour's read during the burst ({took:?}): {body}"
        );
    }
    assert!(
        reads.len() >= 3,
        "only {} reads during the burst",
        reads.len()
    );
    assert!(
        slowest < Duration::from_secs(2),
        "slowest neighbour read {slowest:?}"
    );
    eprintln!(
        "neighbour: {} reads, median {median:?}, slowest {slowest:?}",
        reads.len()
    );
}
