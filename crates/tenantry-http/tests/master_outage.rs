//! The master is not a single point of failure for tenants already known to a `serve`. Here
//! the server reaches its PostgreSQL master through a chaos proxy, which cuts it off for a
//! minute while two tenants (on another server connection, pools warm) are under load: both keep
//! answering 200 throughout, an unknown host gets a fast 503, `/readyz` says "degraded", and
//! once the master is back a suspension made right away is enforced within a second.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{request, unique};
use tenantry_core::settings::DatabaseUrl;
use tenantry_core::vault::{KeyRing, MasterKey, Vault};
use tenantry_http::Application;
use tenantry_provision::Provisioner;
use tenantry_registry::{Actor, Registry};
use tenantry_test_utils::chaos::{ChaosProxy, Mode};
use tenantry_test_utils::{Dialect, TestDb};

const OUTAGE: Duration = Duration::from_secs(60);

async fn registry(url: &str, key: &MasterKey) -> Registry {
    use secrecy::ExposeSecret as _;
    let copy = MasterKey::from_base64(key.to_base64().expose_secret()).unwrap();
    let ring = KeyRing::from_keys(copy, vec![]);
    Registry::connect(
        &DatabaseUrl::parse(url).unwrap(),
        Arc::new(Vault::new(ring)),
    )
    .await
    .unwrap()
}

async fn status(
    client: &reqwest::Client,
    addr: SocketAddr,
    host: &str,
    token: Option<&str>,
) -> (u16, Duration) {
    let started = Instant::now();
    let mut req = client
        .get(format!("http://{addr}/api/v1/ledgers?limit=1"))
        .header("host", format!("{host}:{}", addr.port()));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let status = req.send().await.unwrap().status().as_u16();
    (status, started.elapsed())
}

#[tokio::test(flavor = "multi_thread")]
async fn known_tenants_outlive_a_master_outage() {
    let master = TestDb::new(Dialect::Postgres).await;
    let key = KeyRing::generate_key();
    // The test's own view of the master (an operator's CLI): direct.
    let direct = registry(master.url(), &key).await;
    direct.migrate().await.unwrap();
    common::register_test_server(&direct).await;
    // The load below measures availability during the outage, not the plan's request quota.
    common::lift_request_quotas(&direct).await;
    let operator = Provisioner::new(direct.clone(), master.dir());

    // The server's view: through the proxy.
    let mut upstream = url::Url::parse(master.url()).unwrap();
    let target: SocketAddr = format!(
        "{}:{}",
        upstream.host_str().unwrap(),
        upstream.port().unwrap_or(5432)
    )
    .parse()
    .unwrap();
    let proxy = ChaosProxy::start(target).await;
    upstream.set_port(Some(proxy.addr().port())).unwrap();
    let served = Arc::new(registry(upstream.as_str(), &key).await);
    let settings = common::test_settings(master.dir());
    let provisioner = Arc::new(Provisioner::new((*served).clone(), master.dir()));
    let app = Application::build(&settings, served, provisioner).unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], app.port()));
    let handle = app.handle();
    let state = app.state();
    tokio::spawn(app.run_until_stopped());

    let keys = tenantry_http::auth::TokenKeys::from_vault(direct.vault());
    let mut tenants = Vec::new();
    for prefix in ["out-a", "out-b"] {
        let sub = unique(prefix);
        let row = operator.create(request(&sub)).await.unwrap().tenant;
        let token = keys
            .issue(row.id, 1, tenantry_app::UserRole::Admin, 0)
            .unwrap();
        tenants.push((sub, format!("{}.localhost", row.subdomain), token));
    }
    let client = common::client();
    for (_, host, token) in &tenants {
        assert_eq!(status(&client, addr, host, Some(token)).await.0, 200);
    }

    proxy.set_mode(Mode::Reset);
    let cut_at = Instant::now();
    let load = tenants.iter().map(|(_, host, token)| {
        let client = client.clone();
        async move {
            let mut answered = 0u32;
            while cut_at.elapsed() < OUTAGE {
                let (code, _) = status(&client, addr, host, Some(token)).await;
                assert_eq!(code, 200, "{host} after {:?} of outage", cut_at.elapsed());
                answered += 1;
            }
            answered
        }
    });
    let probes = async {
        // Once the feed has missed its deadline: unknown hosts fail fast, readiness degrades.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let mut slowest = Duration::ZERO;
        for i in 0..20 {
            let (code, took) = status(&client, addr, &format!("nobody{i}.localhost"), None).await;
            assert_eq!(code, 503, "unknown host during the outage");
            slowest = slowest.max(took);
        }
        assert!(
            slowest < Duration::from_millis(100),
            "unknown host took {slowest:?}"
        );
        let ready = client
            .get(format!("http://{addr}/readyz"))
            .send()
            .await
            .unwrap();
        assert_eq!(ready.status(), 200);
        let body: serde_json::Value = ready.json().await.unwrap();
        assert_eq!(body["status"], "degraded", "{body}");
    };
    let (answered, ()) = tokio::join!(futures::future::join_all(load), probes);
    assert!(
        answered.iter().all(|n| *n > 100),
        "requests answered: {answered:?}"
    );
    // Served from the last known state, and counted as such.
    let stale = state.directory.stale_answers();
    eprintln!("answered during the outage: {answered:?}; {stale} from the last known state");
    assert!(
        stale >= u64::from(answered.iter().sum::<u32>()) / 2,
        "{stale} stale answers"
    );

    proxy.set_mode(Mode::Pass);
    let (sub, host, token) = &tenants[0];
    operator
        .suspend(&sub.as_str().into(), "unpaid", &Actor::System.into())
        .await
        .unwrap();
    let suspended_at = Instant::now();
    loop {
        let (code, _) = status(&client, addr, host, Some(token)).await;
        if code == 403 {
            break;
        }
        // Suspending ends the tenant role's sessions before the status is published, so a
        // request in that moment finds its connection gone: 503, never its data after.
        assert!(
            matches!(code, 200 | 503),
            "{code} while the suspension propagates"
        );
        assert!(
            suspended_at.elapsed() < Duration::from_secs(1),
            "suspension not enforced within 1 s of the master's return"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "suspension enforced {:?} after the master returned",
        suspended_at.elapsed()
    );
    drop(handle.stop(false));
}
