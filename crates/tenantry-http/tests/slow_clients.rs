//! A slow client cannot take a tenant offline: a request is read whole (within
//! `server.request_timeout_ms`) and authenticated before a tenant connection is leased, so more
//! slow bodies than the tenant has connections leave its other requests unaffected, and the
//! slow clients get 408.

mod common;

use std::time::{Duration, Instant};

use common::{TestApp, unique};
use serde_json::json;
use tenantry_test_utils::Dialect;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The `standard` plan's connections (`request` in common/mod.rs creates tenants on it).
const PLAN_CONNECTIONS: usize = 5;
const DEADLINE: Duration = Duration::from_millis(1500);

/// Opens a request announcing a 1000-byte body and sends only its first bytes.
async fn slow_body(app: &TestApp, host: &str, path: &str, token: Option<&str>) -> TcpStream {
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}:{}\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: 1000\r\n\r\n{{\"email\":",
        app.addr.port()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// The status line the server finally sends on a slow socket.
async fn status_of(mut stream: TcpStream) -> u16 {
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(DEADLINE * 4, stream.read(&mut buf))
        .await
        .expect("the server answers a slow client by the deadline")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}

async fn slow_bodies_do_not_take_a_tenant_offline(dialect: Dialect) {
    let app = TestApp::spawn_with(dialect, |s| {
        s.server.request_timeout_ms = DEADLINE.as_millis() as u64;
    })
    .await;
    let sub = unique("slow");
    let tenant = app.create(&sub).await;
    let token = app.token(&tenant);
    let host = format!("{sub}.localhost");

    let mut slow = Vec::new();
    for _ in 0..=PLAN_CONNECTIONS {
        slow.push(slow_body(&app, &host, "/api/v1/auth/login", None).await);
        slow.push(slow_body(&app, &host, "/api/v1/ledgers", Some(&token)).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    // While every slow socket is open, the tenant serves others at once.
    let started = Instant::now();
    for _ in 0..10 {
        let res = app
            .get(&host, "/api/v1/ledgers?limit=1")
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let res = app
        .post(&host, "/api/v1/auth/login")
        .json(&json!({"email": format!("admin@{sub}.example"), "password": common::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "a real login gets through");
    assert!(
        started.elapsed() < DEADLINE,
        "served in {:?}, not after the slow clients' deadline",
        started.elapsed()
    );

    for stream in slow {
        assert_eq!(status_of(stream).await, 408);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_bodies_do_not_take_a_tenant_offline_sqlite() {
    slow_bodies_do_not_take_a_tenant_offline(Dialect::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_bodies_do_not_take_a_tenant_offline_postgres() {
    slow_bodies_do_not_take_a_tenant_offline(Dialect::Postgres).await;
}

/// A body larger than the limit is refused from its announced length, before it is read.
#[tokio::test(flavor = "multi_thread")]
async fn oversized_bodies_are_refused_up_front() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    let sub = unique("big");
    app.create(&sub).await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: {sub}.localhost\r\n\
         Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    assert_eq!(status_of(stream).await, 413);
}
