//! A server on port 0 over a throwaway master (PostgreSQL: tenants on the test cluster; SQLite:
//! tenant files in the test's own directory), with real tenants created by the provisioner.

#![allow(dead_code)] // each test file uses part of this harness

pub mod admin;
pub mod backups;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use secrecy::SecretString;
use tenantry_core::Settings;
use tenantry_core::settings::DatabaseUrl;
use tenantry_core::vault::{KeyRing, Vault, hash_password};
use tenantry_core::{Email, ServerName, Subdomain};
use tenantry_http::Application;
use tenantry_provision::{CreateTenant, Provisioner, Step};
use tenantry_registry::{Actor, NewServer, Registry, ServerDialect};
use tenantry_test_utils::{Dialect, TestDb, pg_admin_url};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A client that never reuses a connection idle for a second or more. actix-web closes a kept-alive
/// connection after 5 s idle; a client picking that connection at the same moment gets
/// `IncompleteMessage`, a race of the test's client (a real one retries), not a server fault.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_idle_timeout(std::time::Duration::from_secs(1))
        .build()
        .expect("a reqwest client")
}

pub struct TestApp {
    pub master: TestDb,
    pub registry: Arc<Registry>,
    pub provisioner: Arc<Provisioner>,
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub state: actix_web::web::Data<tenantry_http::AppState>,
    handle: actix_web::dev::ServerHandle,
}

impl TestApp {
    pub async fn spawn(dialect: Dialect) -> Self {
        Self::spawn_with(dialect, |_| {}).await
    }

    pub async fn create(&self, subdomain: &str) -> tenantry_registry::Tenant {
        self.provisioner
            .create(request(subdomain))
            .await
            .unwrap_or_else(|e| panic!("create {subdomain}: {e}"))
            .tenant
    }

    /// A tenant left in `provisioning`, as a crash after `step` would leave it.
    pub async fn create_stopped_after(&self, subdomain: &str, step: Step) {
        let p = Provisioner::new((*self.registry).clone(), self.master.dir())
            .with_failpoint(Some(step));
        let _ = p.create(request(subdomain)).await;
    }

    /// A token for the tenant's seeded admin (user 1), minted as the server would.
    pub fn token(&self, tenant: &tenantry_registry::Tenant) -> String {
        tenantry_http::auth::TokenKeys::from_vault(self.registry.vault())
            .issue(tenant.id, 1, tenantry_app::UserRole::Admin, 0)
            .unwrap()
    }

    /// Logs the seeded tenant admin in over HTTP.
    pub async fn login(&self, subdomain: &str) -> String {
        let res = self
            .post(&format!("{subdomain}.localhost"), "/api/v1/auth/login")
            .json(&serde_json::json!({
                "email": format!("Admin@{subdomain}.example"),
                "password": ADMIN_PASSWORD,
            }))
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(status, 200, "login on {subdomain}: {body}");
        body["token"].as_str().unwrap().to_owned()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A request to `path` as if sent to `http://<host>:<port>`.
    pub fn get(&self, host: &str, path: &str) -> reqwest::RequestBuilder {
        self.client
            .get(self.url(path))
            .header("host", format!("{host}:{}", self.addr.port()))
    }

    pub fn post(&self, host: &str, path: &str) -> reqwest::RequestBuilder {
        self.client
            .post(self.url(path))
            .header("host", format!("{host}:{}", self.addr.port()))
    }

    /// Sends raw request bytes (for Host values an HTTP client would refuse to send) and returns
    /// the status and body.
    pub async fn raw(&self, request: &[u8]) -> (u16, String) {
        let mut stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        stream.write_all(request).await.unwrap();
        let mut out = Vec::new();
        stream.read_to_end(&mut out).await.unwrap();
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {text:?}"));
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        drop(handle.stop(false));
    }
}

/// One argon2id hash shared by every tenant admin in a test run: hashing is deliberately slow.
pub const ADMIN_PASSWORD: &str = "tenant-admin-pw";

pub fn admin_hash() -> String {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password(&SecretString::from(ADMIN_PASSWORD)).unwrap())
        .clone()
}

pub fn request(subdomain: &str) -> CreateTenant {
    CreateTenant {
        subdomain: Subdomain::parse(subdomain, &[]).unwrap(),
        name: format!("{subdomain} Ltd"),
        plan: tenantry_core::PlanId::parse("standard").unwrap(),
        admin_email: Email::parse(&format!("admin@{subdomain}.example")).unwrap(),
        admin_password_hash: admin_hash(),
        server: None,
        origin: Actor::Cli {
            user: "test".into(),
        }
        .into(),
    }
}

/// A subdomain unique to this test run (PostgreSQL tenants share one cluster).
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// Asserts a JSON error answer: status, `error.code`, a request id matching the header.
pub async fn assert_error(res: reqwest::Response, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(res.status().as_u16(), status, "status of {}", res.url());
    let header = res
        .headers()
        .get("x-request-id")
        .expect("x-request-id header")
        .to_str()
        .unwrap()
        .to_owned();
    let body: serde_json::Value = res.json().await.expect("JSON error body");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body["error"]["request_id"], header.as_str(), "{body}");
    body
}

impl TestApp {
    /// [`TestApp::spawn`] with settings adjusted by `configure` before the server is built.
    pub async fn spawn_with(dialect: Dialect, configure: impl FnOnce(&mut Settings)) -> Self {
        let master = TestDb::new(dialect).await;
        let ring = KeyRing::from_keys(KeyRing::generate_key(), vec![]);
        let registry = Registry::connect(
            &DatabaseUrl::parse(master.url()).unwrap(),
            Arc::new(Vault::new(ring)),
        )
        .await
        .unwrap();
        registry.migrate().await.unwrap();
        if dialect == Dialect::Postgres {
            register_test_server(&registry).await;
        }
        let mut settings = test_settings(master.dir());
        configure(&mut settings);
        let provisioner = Arc::new(Provisioner::new(registry.clone(), master.dir()));
        let registry = Arc::new(registry);
        let app = Application::build(&settings, registry.clone(), provisioner.clone()).unwrap();
        let addr = SocketAddr::from(([127, 0, 0, 1], app.port()));
        let handle = app.handle();
        let state = app.state();
        tokio::spawn(app.run_until_stopped());
        Self {
            master,
            registry,
            provisioner,
            addr,
            client: client(),
            state,
            handle,
        }
    }
}

/// Another `serve` on the same master: its own Host directory, pools, user cache and change
/// feed, as a second instance behind a load balancer would have.
pub struct Instance {
    pub addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for Instance {
    fn drop(&mut self) {
        drop(self.handle.clone().stop(false));
    }
}

impl TestApp {
    pub fn second_instance(&self) -> Instance {
        let settings = test_settings(self.master.dir());
        let app =
            Application::build(&settings, self.registry.clone(), self.provisioner.clone()).unwrap();
        let addr = SocketAddr::from(([127, 0, 0, 1], app.port()));
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        Instance { addr, handle }
    }

    /// `GET path` on `host` at another instance.
    pub fn get_at(&self, addr: SocketAddr, host: &str, path: &str) -> reqwest::RequestBuilder {
        self.client
            .get(format!("http://{addr}{path}"))
            .header("host", format!("{host}:{}", addr.port()))
    }
}

impl TestApp {
    /// Registers PostgreSQL server `name` as the test cluster reached at `addr` instead (a
    /// chaos proxy in front of it): same credentials, another address.
    pub async fn add_pg_server_at(&self, name: &str, addr: SocketAddr) {
        let mut url = url::Url::parse(&pg_admin_url()).unwrap();
        url.set_host(Some(&addr.ip().to_string())).unwrap();
        url.set_port(Some(addr.port())).unwrap();
        add_pg_server(&self.registry, name, url.as_str()).await;
    }

    /// A tenant on the named server.
    pub async fn create_on(&self, subdomain: &str, server: &str) -> tenantry_registry::Tenant {
        let mut create = request(subdomain);
        create.server = Some(ServerName::parse(server).unwrap());
        self.provisioner
            .create(create)
            .await
            .unwrap_or_else(|e| panic!("create {subdomain} on {server}: {e}"))
            .tenant
    }
}

/// Registers the test PostgreSQL cluster as tenant server `pg-test`.
pub async fn register_test_server(registry: &Registry) {
    add_pg_server(registry, "pg-test", &pg_admin_url()).await;
}

/// Registers server `name` at the cluster `url` names (its database part is dropped).
pub async fn add_pg_server(registry: &Registry, name: &str, url: &str) {
    registry
        .add_server(
            NewServer {
                name: ServerName::parse(name).unwrap(),
                dialect: ServerDialect::Postgres,
                url: url.rsplit_once('/').unwrap().0.to_owned(),
                admin_password: None,
                capacity: 10_000,
            },
            tenantry_registry::Origin::from(tenantry_registry::Actor::System).entry(
                "server.add",
                None,
                serde_json::json!({}),
            ),
        )
        .await
        .unwrap();
}

/// The embedded default on a free loopback port, with its data in `dir`.
pub fn test_settings(dir: &std::path::Path) -> Settings {
    let mut settings = Settings::embedded_default();
    settings.server.listen = "127.0.0.1:0".parse().unwrap();
    settings.server.base_domain = "localhost".into();
    settings.data_dir = dir.to_owned();
    settings
}

/// Polls `status` every 20 ms until it answers `want`; returns how long that took. Panics with
/// the last answer after 3 s.
pub async fn time_until<F, Fut>(want: u16, mut status: F) -> std::time::Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    let started = std::time::Instant::now();
    loop {
        let got = status().await;
        if got == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "still {got} after 3 s, want {want}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Lifts every plan's request quota (tests that measure throughput or push load through one
/// tenant, not the quota). Takes effect for tenants loaded into a directory afterwards.
pub async fn lift_request_quotas(registry: &Registry) {
    sea_orm::ConnectionTrait::execute_unprepared(
        registry.connection(),
        "UPDATE plans SET requests_per_minute = 1000000000",
    )
    .await
    .unwrap();
}
