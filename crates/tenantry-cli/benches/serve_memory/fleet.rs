//! The master `serve` reads, and the tenants: registry rows only (no databases), registered
//! while `serve` runs, then each resolved once over HTTP.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, ensure};
use futures::{StreamExt as _, TryStreamExt as _};
use secrecy::SecretString;
use tenantry_core::settings::DatabaseUrl;
use tenantry_core::vault::{KeyRing, Vault};
use tenantry_core::{DbServerId, PlanId, ServerName, Subdomain, TenantId};
use tenantry_registry::{
    Actor, AuditEntry, NewServer, NewTenant, Origin, Registry, ServerDialect, TenantStatus,
};
use tenantry_test_utils::TestDb;

use crate::child::BASE_DOMAIN;
use crate::progress;

const SERVER: &str = "bench-pg";
const PLAN: &str = "standard";
/// Registry writes at once (each tenant is a reservation then an activation).
const REGISTER_CONCURRENCY: usize = 16;
/// Requests in flight at once.
const REQUEST_CONCURRENCY: usize = 32;
/// Registering makes 2 × N changes: until the directory has applied them it calls itself stale,
/// and an unknown Host is then a 503 to retry (as `scripts/bench http` does).
const RETRY_503: u32 = 300;
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// The request each tenant gets; without a token it is answered 401 once the tenant is resolved.
pub const PATH: &str = "/api/v1/ledgers?limit=1";

/// A fresh master database on the server under test (dropped with it), migrated, its key ring
/// in a 0600 file beside it, and the server registered for the tenants.
pub struct Master {
    pub registry: Registry,
    pub key_file: std::path::PathBuf,
    pub server: DbServerId,
    // Last: the database is dropped after the registry that uses it.
    pub db: TestDb,
}

impl Master {
    pub async fn setup(admin_url: &str) -> Result<Self> {
        let db = TestDb::postgres().await;
        let key_file = db.dir().join("master.key");
        let (ring, _) = KeyRing::load_or_generate(&key_file).context("master key file")?;
        let url = DatabaseUrl::parse(db.url()).map_err(anyhow::Error::msg)?;
        let registry = Registry::connect(&url, Arc::new(Vault::new(ring))).await?;
        registry.migrate().await?;
        let server = registry
            .add_server(
                NewServer {
                    name: ServerName::parse(SERVER)?,
                    dialect: ServerDialect::Postgres,
                    url: admin_url
                        .rsplit_once('/')
                        .map_or(admin_url, |(base, _)| base)
                        .to_owned(),
                    admin_password: None,
                    capacity: 100_000,
                },
                Origin::from(Actor::System).entry("server.add", None, serde_json::json!({})),
            )
            .await?
            .id;
        Ok(Self {
            registry,
            key_file,
            server,
            db,
        })
    }

    /// Registers `n` active tenants `m<i>-<run_id>`: a reservation (its sealed password
    /// included) then an activation each, as `scripts/bench http` does.
    pub async fn register(&self, n: usize, run_id: &str) -> Result<()> {
        let plan = PlanId::parse(PLAN)?;
        let done = AtomicU64::new(0);
        let started = Instant::now();
        futures::stream::iter(0..n)
            .map(|i| {
                let (plan, done) = (&plan, &done);
                async move {
                    let id = TenantId::new();
                    let name = subdomain(i, run_id);
                    let db_name = format!("t_{}", name.replace('-', "_"));
                    self.registry
                        .reserve_tenant(NewTenant {
                            id,
                            subdomain: Subdomain::parse(&name, &[])?,
                            name: name.clone(),
                            plan: plan.clone(),
                            server: Some(self.server),
                            db_name: db_name.clone(),
                            db_user: Some(db_name),
                            db_password: Some(SecretString::from(format!("unused-{name}"))),
                            storage_limit_mb: None,
                        })
                        .await
                        .with_context(|| format!("reserving {name}"))?;
                    self.registry
                        .set_tenant_status(id, TenantStatus::Active, None, seeded(id))
                        .await
                        .with_context(|| format!("activating {name}"))?;
                    let count = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if count % 2_000 == 0 {
                        progress(format!(
                            "registered {count}/{n} ({:.0} s)",
                            started.elapsed().as_secs_f64()
                        ));
                    }
                    Ok::<_, anyhow::Error>(())
                }
            })
            .buffer_unordered(REGISTER_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }
}

pub fn subdomain(i: usize, run_id: &str) -> String {
    format!("m{i}-{run_id}")
}

/// How the requests went.
#[derive(Debug, Clone, Copy, Default)]
pub struct Resolved {
    /// 503s retried while the directory caught up.
    pub retried_503: u64,
    pub secs: f64,
}

/// One `GET PATH` to each of the given tenants' Hosts, [`REQUEST_CONCURRENCY`] at a time; every
/// answer must be 401 (resolved, no token).
pub async fn resolve_each(port: u16, hosts: &[String]) -> Result<Resolved> {
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}{PATH}");
    let retried = AtomicU64::new(0);
    let started = Instant::now();
    futures::stream::iter(hosts)
        .map(|host| {
            let (client, url, retried) = (&client, &url, &retried);
            async move {
                let mut tries = 0;
                let status = loop {
                    let res = client.get(url).header("host", host).send().await?;
                    tries += 1;
                    if res.status() != 503 || tries == RETRY_503 {
                        break res.status();
                    }
                    retried.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(RETRY_PAUSE).await;
                };
                ensure!(
                    status == 401,
                    "{host}: expected 401 without a token, got {status}"
                );
                Ok(())
            }
        })
        .buffer_unordered(REQUEST_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(Resolved {
        retried_503: retried.into_inner(),
        secs: started.elapsed().as_secs_f64(),
    })
}

pub fn host(i: usize, run_id: &str) -> String {
    format!("{}.{BASE_DOMAIN}", subdomain(i, run_id))
}

/// The audit row of a tenant the bench activates directly, without provisioning it.
fn seeded(id: TenantId) -> AuditEntry {
    Origin::from(Actor::System).entry(
        "tenant.create",
        Some(id),
        serde_json::json!({ "seeded": "bench" }),
    )
}

pub fn self_check() {
    assert_eq!(host(7, "ab12cd34"), "m7-ab12cd34.localhost");
    assert!(Subdomain::parse(&subdomain(9_999, "ab12cd34"), &[]).is_ok());
}
