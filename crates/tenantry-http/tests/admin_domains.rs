//! Custom domains over the admin API, verified against a real DNS server (dnsmasq): a claim
//! routes nowhere until its TXT challenge is in DNS, then routes everywhere within a second;
//! removal stops it; every change writes one audit row; DNS failures are clear errors, never 500.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::admin::APEX;
use common::{TestApp, assert_error, time_until, unique};
use serde_json::{Value, json};
use tenantry_test_utils::Dialect;
use tenantry_test_utils::dns::DnsServer;

const DOMAIN: &str = "books.acme.test";
const RECORD: &str = "_tenantry-challenge.books.acme.test";

/// A server whose domain checks ask `nameserver`, with `configure` applied on top.
async fn spawn(
    dialect: Dialect,
    nameserver: SocketAddr,
    configure: impl FnOnce(&mut tenantry_core::Settings),
) -> TestApp {
    TestApp::spawn_with(dialect, |s| {
        s.domains.nameservers = vec![nameserver];
        s.domains.lookup_timeout_ms = 2000;
        configure(s);
    })
    .await
}

async fn body(res: reqwest::Response) -> Value {
    res.json().await.unwrap()
}

impl TestApp {
    async fn add_domain(&self, token: &str, tenant: &str, domain: &str) -> reqwest::Response {
        let path = format!("/admin/v1/tenants/{tenant}/domains");
        let req = self.post(APEX, &path).bearer_auth(token);
        req.json(&json!({ "domain": domain })).send().await.unwrap()
    }

    async fn verify_domain(&self, token: &str, tenant: &str, domain: &str) -> reqwest::Response {
        let path = format!("/admin/v1/tenants/{tenant}/domains/{domain}/verify");
        self.post(APEX, &path)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// The status of the tenant API at `host` on `addr`, with `token`: 200 when the host routes
    /// to the token's tenant, 404 when it routes nowhere.
    async fn ledgers_at(&self, addr: SocketAddr, host: &str, token: &str) -> u16 {
        let req = self.get_at(addr, host, "/api/v1/ledgers?limit=1");
        let res = req.bearer_auth(token).send().await.unwrap();
        res.status().as_u16()
    }

    async fn audited(&self, token: &str, action: &str) -> Vec<Value> {
        let path = format!("/admin/v1/audit?action={action}");
        let res = self.get(APEX, &path).bearer_auth(token).send().await;
        let page = body(res.unwrap()).await;
        page["data"].as_array().unwrap().clone()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_domain_routes_only_once_its_txt_record_is_in_dns() {
    let mut dns = DnsServer::start("acme.test", &[]);
    let app = spawn(Dialect::Postgres, dns.addr(), |_| {}).await;
    let other = app.second_instance();
    let operator = app.admin_token("operator").await;
    let viewer = app.admin_token("viewer").await;
    let (a, b) = (unique("dom-a"), unique("dom-b"));
    let tenant = app.create(&a).await;
    app.create(&b).await;
    let tenant_token = app.token(&tenant);

    // A viewer may list, not add.
    let res = app.add_domain(&viewer, &a, DOMAIN).await;
    assert_error(res, 403, "forbidden").await;

    let res = app.add_domain(&operator, &a, "Books.Acme.TEST.").await;
    assert_eq!(res.status(), 201);
    let added = body(res).await;
    assert_eq!(added["domain"], DOMAIN, "{added}");
    assert_eq!(added["tenant"], tenant.id.to_string());
    assert_eq!(added["verified"], false);
    assert_eq!(added["verification"]["type"], "TXT");
    assert_eq!(added["verification"]["name"], RECORD);
    let value = added["verification"]["value"].as_str().unwrap().to_owned();
    let challenge = value.strip_prefix("tenantry-verification=").unwrap();
    assert!(challenge.len() >= 22, "at least 128 bits: {value}");
    let listed = app.get(APEX, &format!("/admin/v1/tenants/{a}/domains"));
    let listed = body(listed.bearer_auth(&viewer).send().await.unwrap()).await;
    assert_eq!(listed["data"][0]["verification"]["value"], value.as_str());

    // Claims that cannot be: held by a tenant, under the base domain, malformed, no tenant.
    let res = app.add_domain(&operator, &b, DOMAIN).await;
    assert_error(res, 409, "conflict").await;
    let res = app
        .add_domain(&operator, &b, &format!("shop.{b}.localhost"))
        .await;
    let refused = assert_error(res, 422, "validation_failed").await;
    assert_eq!(
        refused["error"]["fields"][0]["field"], "domain",
        "{refused}"
    );
    let res = app.add_domain(&operator, &b, "not_a.domain").await;
    let refused = assert_error(res, 422, "validation_failed").await;
    assert_eq!(
        refused["error"]["fields"][0]["field"], "domain",
        "{refused}"
    );
    let res = app
        .add_domain(&operator, "no-such-tenant", "x.acme.test")
        .await;
    assert_error(res, 404, "not_found").await;

    // Pending: routes nowhere; no record in DNS yet, then a wrong one: a clear 409 each time.
    let res = app.verify_domain(&operator, &a, DOMAIN).await;
    let unverified = assert_error(res, 409, "domain_unverified").await;
    let message = unverified["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(RECORD) && message.contains(&value),
        "{message}"
    );
    assert!(message.contains("no TXT record"), "{message}");
    dns.restart(&[(RECORD, "tenantry-verification=someone-elses")]);
    let res = app.verify_domain(&operator, &a, DOMAIN).await;
    let unverified = assert_error(res, 409, "domain_unverified").await;
    assert!(
        unverified["error"]["message"]
            .as_str()
            .unwrap()
            .contains("another value")
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    for at in [app.addr, other.addr] {
        assert_eq!(app.ledgers_at(at, DOMAIN, &tenant_token).await, 404);
    }

    // A's domain is unknown through B's path, even with the right record in DNS.
    dns.restart(&[(RECORD, value.as_str())]);
    let res = app.verify_domain(&operator, &b, DOMAIN).await;
    assert_error(res, 404, "not_found").await;
    let res = app.verify_domain(&viewer, &a, DOMAIN).await;
    assert_error(res, 403, "forbidden").await;

    let res = app.verify_domain(&operator, &a, DOMAIN).await;
    assert_eq!(res.status(), 200);
    assert_eq!(body(res).await["verified"], true);
    assert_eq!(app.ledgers_at(app.addr, DOMAIN, &tenant_token).await, 200);
    let waited = time_until(200, || app.ledgers_at(other.addr, DOMAIN, &tenant_token)).await;
    assert!(waited < Duration::from_secs(1), "{waited:?}");
    // Verifying again changes nothing, even with the record gone.
    dns.restart(&[]);
    let res = app.verify_domain(&operator, &a, DOMAIN).await;
    assert_eq!(res.status(), 200);

    // Removal: not through B; through A it stops routing everywhere; a retry replays its 204.
    let remove = |tenant: &str| {
        let path = format!("/admin/v1/tenants/{tenant}/domains/{DOMAIN}");
        app.admin_delete(&path)
            .bearer_auth(&operator)
            .header("idempotency-key", format!("remove-{tenant}"))
            .send()
    };
    assert_error(remove(&b).await.unwrap(), 404, "not_found").await;
    let res = remove(&a).await.unwrap();
    assert_eq!(res.status(), 204);
    let res = remove(&a).await.unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    for at in [app.addr, other.addr] {
        let waited = time_until(404, || app.ledgers_at(at, DOMAIN, &tenant_token)).await;
        assert!(waited < Duration::from_secs(1), "{waited:?}");
    }
    let again = app.admin_delete(&format!("/admin/v1/tenants/{a}/domains/{DOMAIN}"));
    assert_error(
        again.bearer_auth(&operator).send().await.unwrap(),
        404,
        "not_found",
    )
    .await;

    // One audit row per change, and none for refusals or repeats.
    for action in ["domain.add", "domain.verify", "domain.remove"] {
        let rows = app.audited(&operator, action).await;
        assert_eq!(rows.len(), 1, "{action}: {rows:?}");
        assert_eq!(rows[0]["tenant"], tenant.id.to_string());
        assert_eq!(rows[0]["detail"]["domain"], DOMAIN);
        assert!(rows[0]["actor"].as_str().unwrap().starts_with("admin:"));
    }
}

/// DNS that cannot answer is the resolver's failure (503) or a timeout (504), with `Retry-After`;
/// the domain stays pending. Also: the per-tenant limit.
#[tokio::test(flavor = "multi_thread")]
async fn dns_failures_are_clear_errors_and_the_domain_stays_pending() {
    // dnsmasq refuses names outside its zone (it has no upstream).
    let dns = DnsServer::start("elsewhere.test", &[]);
    let app = spawn(Dialect::Sqlite, dns.addr(), |s| {
        s.domains.max_per_tenant = 2
    })
    .await;
    let operator = app.admin_token("operator").await;
    let sub = unique("dns");
    app.create(&sub).await;
    let res = app.add_domain(&operator, &sub, DOMAIN).await;
    assert_eq!(res.status(), 201);
    let res = app.verify_domain(&operator, &sub, DOMAIN).await;
    assert!(res.headers().contains_key("retry-after"));
    let failed = assert_error(res, 503, "dns_unavailable").await;
    let message = failed["error"]["message"].as_str().unwrap();
    assert!(message.contains(RECORD), "{message}");

    let res = app.add_domain(&operator, &sub, "shop.acme.test").await;
    assert_eq!(res.status(), 201);
    let res = app.add_domain(&operator, &sub, "third.acme.test").await;
    let refused = assert_error(res, 422, "validation_failed").await;
    let message = refused["error"]["fields"][0]["message"].as_str().unwrap();
    assert!(message.contains("domains.max_per_tenant"), "{message}");

    let listed = app.get(APEX, &format!("/admin/v1/tenants/{sub}/domains"));
    let listed = body(listed.bearer_auth(&operator).send().await.unwrap()).await;
    let names: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["domain"].as_str().unwrap())
        .collect();
    assert_eq!(names, [DOMAIN, "shop.acme.test"]);
    assert_eq!(listed["data"][0]["verified"], false);
    assert!(app.audited(&operator, "domain.verify").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_nameserver_is_a_timeout_within_the_configured_bound() {
    // Takes every question and answers none.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let app = spawn(Dialect::Sqlite, addr, |s| s.domains.lookup_timeout_ms = 300).await;
    let operator = app.admin_token("operator").await;
    let sub = unique("quiet");
    app.create(&sub).await;
    assert_eq!(app.add_domain(&operator, &sub, DOMAIN).await.status(), 201);
    let started = Instant::now();
    let res = app.verify_domain(&operator, &sub, DOMAIN).await;
    let took = started.elapsed();
    let timed_out = assert_error(res, 504, "dns_timeout").await;
    assert!(took < Duration::from_secs(2), "{took:?}");
    let message = timed_out["error"]["message"].as_str().unwrap();
    assert!(message.contains("300 ms"), "{message}");
    drop(silent);
}
