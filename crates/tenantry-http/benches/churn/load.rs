//! One load: a fresh `Application` (its pools cold), wrk's warm-up and measured window, the
//! pools' counters over the window and the peak of the tenants' sessions over the whole load.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use sea_orm::sqlx::{Connection as _, PgConnection};
use tenantry_core::Settings;
use tenantry_http::Application;
use tenantry_pool::PoolStats;

use crate::fleet::{Fleet, drain, sessions};
use crate::lua::{parse_statuses, script, zipf_cdf};
use crate::wrk::{WrkRun, run_wrk};
use crate::{PATH, ZIPF_S, progress};

const THREADS: usize = 2;
const CONNECTIONS: usize = 32;
const SAMPLE_EVERY: Duration = Duration::from_millis(10);

/// What a load is: the first `tenants` tenants (1: the hot one alone; more: Zipf over them), the
/// server's connection budget, and how many other tenants hold an idle connection beforehand.
pub struct Spec {
    pub name: &'static str,
    pub tenants: usize,
    pub budget: u32,
    /// Tenants after the first served one request each before the warm-up, so that their idle
    /// connections hold that much of the budget.
    pub prefill: usize,
}

/// `TenantPools`' counters over the measured window.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolWindow {
    pub hits: u64,
    pub opens: u64,
    pub steals: u64,
    pub waits: u64,
    pub timeouts: u64,
    pub evictions: u64,
    pub open_failures: u64,
    pub fast_failures: u64,
}

impl PoolWindow {
    fn between(a: &PoolStats, b: &PoolStats) -> Self {
        Self {
            hits: b.hits - a.hits,
            opens: b.opens - a.opens,
            steals: b.steals - a.steals,
            waits: b.waits - a.waits,
            timeouts: b.timeouts - a.timeouts,
            evictions: b.evictions - a.evictions,
            open_failures: b.open_failures - a.open_failures,
            fast_failures: b.fast_failures - a.fast_failures,
        }
    }
}

pub struct Outcome {
    /// wrk's figures for the measured window.
    pub run: WrkRun,
    /// Answers of status 300 or more in the window, by status.
    pub statuses: BTreeMap<u16, u64>,
    pub pools: PoolWindow,
    /// Most sessions of the tenants' roles seen at once, warm-up included.
    pub peak: i64,
}

impl Outcome {
    /// Connection opens in the window per request in it.
    pub fn misses(&self) -> f64 {
        self.pools.opens as f64 / self.run.requests.max(1.0)
    }

    /// Answers with `status` per request (0–1).
    pub fn share(&self, status: u16) -> f64 {
        self.statuses.get(&status).copied().unwrap_or(0) as f64 / self.run.requests.max(1.0)
    }

    /// Non-2xx answers of any status but 503, and socket errors other than timeouts.
    pub fn untyped(&self) -> u64 {
        let other: u64 = self
            .statuses
            .iter()
            .filter(|(s, _)| **s != 503)
            .map(|(_, n)| n)
            .sum();
        other + (self.run.connect + self.run.read + self.run.write) as u64
    }
}

/// What every load shares.
pub struct Bench<'a> {
    pub fleet: &'a Fleet,
    pub wrk: &'a Path,
    /// Per tenant, by rank: `(Host, token)`.
    pub requests: &'a [(String, String)],
    pub roles: &'a [String],
    pub scripts: &'a Path,
    pub warmup: u64,
    pub duration: u64,
}

pub async fn run(bench: &Bench<'_>, spec: &Spec) -> Result<Outcome> {
    let fleet = bench.fleet;
    drain(&fleet.admin_url, bench.roles, Duration::from_secs(10)).await?;
    let requests = &bench.requests[..spec.tenants];
    let script_path = bench.scripts.join(format!("{}.lua", spec.name));
    std::fs::write(
        &script_path,
        script(requests, &zipf_cdf(spec.tenants, ZIPF_S))?,
    )?;

    let mut settings = Settings::embedded_default();
    settings.server.listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    settings.server.base_domain = "localhost".into();
    settings.data_dir = fleet.data_dir().to_owned();
    settings.pool.server_connection_budget = spec.budget;
    // Connected first: nothing may fail between starting the server and stopping it.
    let mut admin = PgConnection::connect(&fleet.admin_url).await?;
    let registry = Arc::new(fleet.registry().await?);
    let provisioner = Arc::new(fleet.provisioner().await?);
    let app = Application::build(&settings, registry, provisioner)?;
    let port = app.port();
    let state = app.state();
    let handle = app.handle();
    let serving = tokio::spawn(app.run_until_stopped());

    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (roles, stop) = (bench.roles.to_vec(), stop.clone());
        tokio::spawn(async move {
            let mut peak = 0;
            while !stop.load(Ordering::Relaxed) {
                peak = peak.max(sessions(&mut admin, &roles).await?);
                tokio::time::sleep(SAMPLE_EVERY).await;
            }
            admin.close().await.ok();
            Ok::<_, anyhow::Error>(peak)
        })
    };
    let measured = async {
        check_answer(port, &requests[0]).await?;
        for other in &bench.requests[1..=spec.prefill] {
            check_answer(port, other).await?;
        }
        let drive = async |secs: u64| {
            run_wrk(
                bench.wrk,
                THREADS,
                CONNECTIONS,
                port,
                PATH,
                &script_path,
                secs,
            )
            .await
        };
        if bench.warmup > 0 {
            let (run, stdout) = drive(bench.warmup).await?;
            let statuses = parse_statuses(&stdout)?;
            progress(format!(
                "{}: warm-up {:.0} req/s, non-2xx {statuses:?}",
                spec.name,
                run.rps()
            ));
            ensure!(
                statuses.keys().all(|s| !(400..500).contains(s)),
                "{}: the warm-up got client errors {statuses:?}: the requests are wrong",
                spec.name
            );
        }
        let before = state.pools.stats();
        let (run, stdout) = drive(bench.duration).await?;
        let pools = PoolWindow::between(&before, &state.pools.stats());
        Ok::<_, anyhow::Error>((run, parse_statuses(&stdout)?, pools))
    }
    .await;
    stop.store(true, Ordering::Relaxed);
    let peak = sampler.await?;

    handle.stop(false).await;
    serving.await.ok();
    for t in &fleet.tenants {
        state.pools.invalidate(t.id).await;
    }
    drop(state);
    let (run, statuses, pools) = measured?;
    Ok(Outcome {
        run,
        statuses,
        pools,
        peak: peak.context("sampling pg_stat_activity")?,
    })
}

/// The hot tenant answers 200 (a wrong Host, token or server fails here, not in a table).
async fn check_answer(port: u16, (host, token): &(String, String)) -> Result<()> {
    let res = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()?
        .get(format!("http://127.0.0.1:{port}{PATH}"))
        .header("host", host)
        .bearer_auth(token)
        .send()
        .await?;
    let status = res.status();
    ensure!(
        status == 200,
        "GET {PATH} as {host}: {status}: {}",
        res.text().await.unwrap_or_default()
    );
    Ok(())
}
