//! The master, the tenants (real ones, created by `Provisioner::create`), their tokens, the
//! connect rate as a tenant role, counting the tenants' sessions, and the clean-up.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use futures::StreamExt as _;
use sea_orm::sqlx::postgres::PgConnectOptions;
use sea_orm::sqlx::{AssertSqlSafe, ConnectOptions as _, Connection as _, Executor as _};
use sea_orm::sqlx::{PgConnection, query_scalar};
use secrecy::{ExposeSecret as _, SecretString};
use tenantry_core::settings::DatabaseUrl;
use tenantry_core::vault::{KeyRing, Vault, hash_password};
use tenantry_core::{Email, PlanId, ServerName, Subdomain, TenantRef};
use tenantry_provision::{CreateTenant, FinalBackup, Provisioner};
use tenantry_registry::{Actor, NewServer, Origin, Registry, ServerDialect, Tenant, TenantStatus};
use tenantry_test_utils::TestDb;

use crate::progress;

pub const PLAN: &str = "standard";
const SERVER: &str = "bench-pg";
const ADMIN_PASSWORD: &str = "bench-tenant-admin-pw";
/// Tenants created (and deleted) at once.
const CONCURRENCY: usize = 4;

/// A fresh master on the server under test, registered as the tenants' server, and the tenants.
pub struct Fleet {
    pub admin_url: String,
    master: TestDb,
    master_url: DatabaseUrl,
    vault: Arc<Vault>,
    /// By Zipf rank: the first is the hot tenant.
    pub tenants: Vec<Tenant>,
}

impl Fleet {
    pub async fn setup(admin_url: &str) -> Result<Self> {
        let master = TestDb::postgres().await;
        let vault = Arc::new(Vault::new(KeyRing::from_keys(
            KeyRing::generate_key(),
            vec![],
        )));
        let master_url = DatabaseUrl::parse(master.url()).map_err(anyhow::Error::msg)?;
        let registry = Registry::connect(&master_url, vault.clone()).await?;
        registry.migrate().await?;
        let server_url = admin_url
            .rsplit_once('/')
            .map_or(admin_url, |(base, _)| base);
        registry
            .add_server(
                NewServer {
                    name: ServerName::parse(SERVER)?,
                    dialect: ServerDialect::Postgres,
                    url: server_url.to_owned(),
                    admin_password: None,
                    capacity: 10_000,
                },
                Origin::from(Actor::System).entry("server.add", None, serde_json::json!({})),
            )
            .await?;
        // Only connections may limit the load: lift the plans' request quota before any server
        // loads a tenant (`lift_request_quotas` in tests/common).
        sea_orm::ConnectionTrait::execute_unprepared(
            registry.connection(),
            "UPDATE plans SET requests_per_minute = 1000000000",
        )
        .await?;
        Ok(Self {
            admin_url: admin_url.to_owned(),
            master,
            master_url,
            vault,
            tenants: Vec::new(),
        })
    }

    /// A registry of its own: connections opened by a server's worker runtimes die with them.
    pub async fn registry(&self) -> Result<Registry> {
        Ok(Registry::connect(&self.master_url, self.vault.clone()).await?)
    }

    pub async fn provisioner(&self) -> Result<Provisioner> {
        Ok(Provisioner::new(self.registry().await?, self.master.dir()))
    }

    pub fn data_dir(&self) -> &std::path::Path {
        self.master.dir()
    }

    /// Creates `n` tenants, [`CONCURRENCY`] at a time. After a failure the creations under way
    /// finish and no new one starts (whatever exists is deleted by [`Self::clean_up`]).
    pub async fn create(&mut self, n: usize, run_id: &str) -> Result<()> {
        let provisioner = self.provisioner().await?;
        let admin_hash =
            tokio::task::spawn_blocking(|| hash_password(&SecretString::from(ADMIN_PASSWORD)))
                .await?
                .context("hashing the tenant admin password")?;
        let plan = PlanId::parse(PLAN)?;
        let failed = AtomicBool::new(false);
        let started = Instant::now();
        let mut created = futures::stream::iter(0..n)
            .map(|i| {
                let (provisioner, admin_hash, plan, failed) =
                    (&provisioner, &admin_hash, &plan, &failed);
                async move {
                    if failed.load(Ordering::Relaxed) {
                        return (i, None);
                    }
                    let subdomain = format!("c{i}-{run_id}");
                    let result = async {
                        let created = provisioner
                            .create(CreateTenant {
                                subdomain: Subdomain::parse(&subdomain, &[])?,
                                name: format!("{subdomain} Ltd"),
                                plan: plan.clone(),
                                admin_email: Email::parse(&format!("admin@{subdomain}.example"))?,
                                admin_password_hash: admin_hash.clone(),
                                server: None,
                                origin: Actor::System.into(),
                            })
                            .await?;
                        Ok::<_, anyhow::Error>(created.tenant)
                    }
                    .await
                    .with_context(|| format!("creating tenant {subdomain}"));
                    failed.fetch_or(result.is_err(), Ordering::Relaxed);
                    (i, Some(result))
                }
            })
            .buffer_unordered(CONCURRENCY);
        let mut tenants = Vec::with_capacity(n);
        let mut first_error = None;
        while let Some((i, result)) = created.next().await {
            match result {
                Some(Ok(tenant)) => tenants.push((i, tenant)),
                Some(Err(e)) => first_error = first_error.or(Some(e)),
                None => continue,
            }
            if tenants.len() % 25 == 0 {
                progress(format!(
                    "created {}/{n} tenants ({:.0} s)",
                    tenants.len(),
                    started.elapsed().as_secs_f64()
                ));
            }
        }
        tenants.sort_by_key(|(i, _)| *i);
        self.tenants = tenants.into_iter().map(|(_, t)| t).collect();
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Per tenant, by rank: `Host` (`<subdomain>.localhost`) and a token for its seeded admin
    /// (user 1), minted with the key the servers derive from the same master key.
    pub fn requests(&self) -> Result<Vec<(String, String)>> {
        let keys = tenantry_http::auth::TokenKeys::from_vault(&self.vault);
        self.tenants
            .iter()
            .map(|t| {
                let token = keys
                    .issue(t.id, 1, tenantry_app::UserRole::Admin, 0)
                    .map_err(|e| anyhow::anyhow!("minting a token: {e}"))?;
                Ok((format!("{}.localhost", t.subdomain), token))
            })
            .collect()
    }

    /// The tenants' roles (each tenant has its own).
    pub fn roles(&self) -> Vec<String> {
        self.tenants
            .iter()
            .filter_map(|t| t.db_user.clone())
            .collect()
    }

    /// Sequential connects as the hot tenant's role for `window`, each as the pool opens one
    /// (its URL, `application_name`, `statement_timeout`), then `SELECT 1` and close: connects/s
    /// and how many.
    pub async fn connect_rate(&self, window: Duration) -> Result<(f64, u64)> {
        let provisioner = self.provisioner().await?;
        let url = provisioner.tenant_url(&self.tenants[0]).await?;
        let options = PgConnectOptions::from_str(url.expose_secret())?
            .application_name("tenantry")
            .options([("statement_timeout", 10_000)])
            .disable_statement_logging();
        let connect = async || -> Result<()> {
            let mut conn = options.connect().await?;
            conn.execute("SELECT 1").await?;
            conn.close().await?;
            Ok(())
        };
        connect().await?;
        let started = Instant::now();
        let mut n = 0u64;
        while started.elapsed() < window {
            connect().await?;
            n += 1;
        }
        Ok((n as f64 / started.elapsed().as_secs_f64(), n))
    }

    /// Deletes every tenant of the master (no final backup), [`CONCURRENCY`] at a time; one
    /// that cannot be deleted has its database and role dropped directly. Then the master.
    pub async fn clean_up(self) -> Result<()> {
        let provisioner = self.provisioner().await?;
        let left: Vec<Tenant> = provisioner
            .registry()
            .list_tenants(None)
            .await?
            .into_iter()
            .filter(|t| t.status != TenantStatus::Deleted)
            .collect();
        progress(format!("deleting {} tenants", left.len()));
        let failed: Vec<Tenant> = futures::stream::iter(left)
            .map(|t| {
                let provisioner = &provisioner;
                async move {
                    let origin: Origin = Actor::System.into();
                    let reference: TenantRef = t.id.into();
                    let deleted = provisioner
                        .delete_with(&reference, t.subdomain.as_str(), FinalBackup::Skip, &origin)
                        .await;
                    deleted.err().map(|e| {
                        progress(format!("warning: deleting tenant {}: {e}", t.subdomain));
                        t
                    })
                }
            })
            .buffer_unordered(CONCURRENCY)
            .filter_map(futures::future::ready)
            .collect()
            .await;
        drop(provisioner);
        let dropped = drop_directly(&self.admin_url, &failed).await;
        drop(self.master);
        dropped
    }
}

/// `DROP DATABASE … WITH (FORCE)` and `DROP ROLE` for tenants the provisioner could not delete.
async fn drop_directly(admin_url: &str, tenants: &[Tenant]) -> Result<()> {
    if tenants.is_empty() {
        return Ok(());
    }
    let mut admin = PgConnection::connect(admin_url).await?;
    let mut failures = Vec::new();
    for t in tenants {
        let names = [Some(&t.db_name), t.db_user.as_ref()];
        for (kind, name) in ["DATABASE", "ROLE"].into_iter().zip(names) {
            let Some(name) = name else { continue };
            if !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                failures.push(format!("unexpected name {name:?}"));
                continue;
            }
            let force = if kind == "DATABASE" {
                " WITH (FORCE)"
            } else {
                ""
            };
            let sql = format!(r#"DROP {kind} IF EXISTS "{name}"{force}"#);
            if let Err(e) = admin.execute(AssertSqlSafe(sql)).await {
                failures.push(format!("{kind} {name}: {e}"));
            }
        }
    }
    admin.close().await.ok();
    ensure!(
        failures.is_empty(),
        "clean-up failed:\n  {}",
        failures.join("\n  ")
    );
    Ok(())
}

/// Sessions of `roles` on the server now (the master's and ours run as another role).
pub async fn sessions(admin: &mut PgConnection, roles: &[String]) -> Result<i64> {
    Ok(query_scalar::<_, i64>(
        "SELECT count(*) FROM pg_stat_activity WHERE usename::text = ANY($1)",
    )
    .bind(roles)
    .fetch_one(admin)
    .await?)
}

/// Waits until no session of `roles` is left (a stopped server's pools close theirs as they are
/// invalidated); after `patience`, terminates the rest and says so.
pub async fn drain(admin_url: &str, roles: &[String], patience: Duration) -> Result<()> {
    let mut admin = PgConnection::connect(admin_url).await?;
    let deadline = Instant::now() + patience;
    loop {
        let left = sessions(&mut admin, roles).await?;
        if left == 0 {
            break;
        }
        if Instant::now() >= deadline {
            progress(format!(
                "warning: {left} tenant sessions still open {patience:?} after the server \
                 stopped: terminating them"
            ));
            query_scalar::<_, i64>(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE usename::text = ANY($1)",
            )
            .bind(roles)
            .fetch_one(&mut admin)
            .await?;
            tokio::time::sleep(Duration::from_millis(500)).await;
            let left = sessions(&mut admin, roles).await?;
            if left > 0 {
                bail!("{left} tenant sessions survive pg_terminate_backend");
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    admin.close().await.ok();
    Ok(())
}
