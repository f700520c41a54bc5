//! The measurement: logins, baselines, warm-ups, wrk and pgbench rounds, routing alone.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::http::header::AUTHORIZATION;
use actix_web::web;
use anyhow::{Context as _, Result, ensure};
use sea_orm::sqlx::ConnectOptions as _;
use sea_orm::sqlx::postgres::PgConnectOptions;
use secrecy::ExposeSecret as _;
use tenantry_pool::{PoolConfig, PoolStats, TenantPools, TenantTarget};
use tenantry_provision::Provisioner;

use crate::args::Args;
use crate::baseline::{FixedPool, HotTarget, Variant, fixed_pool, fixed_pool_server, token_key};
use crate::load::{Load, lua_script, run_wrk};
use crate::pgbench;
use crate::wrk::WrkRun;
use crate::{ADMIN_PASSWORD, PATH, progress};

pub(crate) struct Measured {
    /// Runs per load, in round order.
    pub(crate) runs: Vec<(Load, Vec<WrkRun>)>,
    /// Per round, Tenantry ÷ its baseline (same round).
    pub(crate) paired: Vec<f64>,
    pub(crate) paired_rr: Vec<f64>,
    /// pgbench with the statement Tenantry sent, one run per round, and Tenantry ÷ it.
    pub(crate) pgbench: Vec<pgbench::PgbenchRun>,
    pub(crate) paired_pgbench: Vec<f64>,
    pub(crate) statement: String,
    pub(crate) pools: PoolStats,
    pub(crate) opens_during_rounds: u64,
    pub(crate) isolated: Isolated,
    /// Runs with any non-2xx answer or socket error: reported, then the benchmark fails.
    pub(crate) failures: Vec<String>,
}

impl Measured {
    pub(crate) fn of(&self, load: Load) -> Option<&[WrkRun]> {
        self.runs
            .iter()
            .find(|(l, _)| *l == load)
            .map(|(_, r)| r.as_slice())
    }
}

/// Logs every tenant in over HTTP, starts the baselines, checks that all answer the same, then
/// runs the rounds.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn measure(
    admin_url: &str,
    args: &Args,
    wrk: &Path,
    workers: usize,
    max_connections: u32,
    app_port: u16,
    state: &web::Data<tenantry_http::AppState>,
    provisioner: &Provisioner,
    tenants: &[tenantry_registry::Tenant],
    fixed_handles: &mut Vec<ServerHandle>,
    settle: Duration,
) -> Result<Measured> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()?;
    let base = |port: u16| format!("http://{}", SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    let host_of = |t: &tenantry_registry::Tenant| format!("{}.localhost:{app_port}", t.subdomain);

    let mut tokens = Vec::new();
    for t in tenants {
        let res = client
            .post(format!("{}/api/v1/auth/login", base(app_port)))
            .header("host", host_of(t))
            .json(&serde_json::json!({
                "email": format!("admin@{}.example", t.subdomain),
                "password": ADMIN_PASSWORD,
            }))
            .send()
            .await?;
        ensure!(
            res.status() == 200,
            "login on {}: {}",
            t.subdomain,
            res.status()
        );
        let body: serde_json::Value = res.json().await?;
        tokens.push(
            body["token"]
                .as_str()
                .context("no token in the login answer")?
                .to_owned(),
        );
    }

    // The baseline: the hot tenant's database on one fixed pool, its token checked as auth.rs
    // does (the derivation is a copy: check it against the token the application issued).
    let hot = &tenants[0];
    let options = PgConnectOptions::from_str(provisioner.tenant_url(hot).await?.expose_secret())
        .context("the tenant's URL")?
        .application_name("tenantry-bench-baseline")
        .disable_statement_logging();
    let fixed = web::Data::new(FixedPool {
        db: fixed_pool(options.clone(), max_connections),
        pools: TenantPools::new(
            PoolConfig::default(),
            Arc::new(HotTarget(TenantTarget {
                server: hot.server.map(|s| s.as_uuid()),
                url: provisioner.tenant_url(hot).await?,
                max_connections: max_connections as usize,
            })),
        ),
        tenant: hot.id.as_uuid(),
        decoding: token_key(provisioner.registry().vault()),
    });
    let probe = actix_web::test::TestRequest::get()
        .insert_header((AUTHORIZATION, format!("Bearer {}", tokens[0])))
        .to_http_request();
    fixed.authenticate(&probe).map_err(|e| {
        anyhow::anyhow!(
            "the bench's copy of the token key derivation no longer matches auth.rs: {e}"
        )
    })?;
    let mut start = |variant| -> Result<u16> {
        let (port, server) = fixed_pool_server(fixed.clone(), workers, variant)?;
        fixed_handles.push(server.handle());
        tokio::spawn(server);
        Ok(port)
    };
    let baseline_port = start(Variant::Pool)?;
    let bare_port = start(Variant::Bare)?;
    let by_id_port = start(Variant::ById)?;

    // Every server answers every request of its mix with 200 and the same body as Tenantry.
    let get = async |port: u16, host: &str, token: &str| -> Result<String> {
        let res = client
            .get(format!("{}{PATH}", base(port)))
            .header("host", host)
            .bearer_auth(token)
            .send()
            .await?;
        let status = res.status();
        let body = res.text().await?;
        ensure!(
            status == 200,
            "GET {PATH} on port {port} as {host}: {status}: {body}"
        );
        Ok(body)
    };
    let hot_host = host_of(hot);
    let expected = get(app_port, &hot_host, &tokens[0]).await?;
    for port in [baseline_port, bare_port, by_id_port] {
        let body = get(port, &hot_host, &tokens[0]).await?;
        ensure!(
            body == expected,
            "the baseline answers differently from Tenantry:\n{body}\nvs\n{expected}"
        );
    }
    for (t, token) in tenants.iter().zip(&tokens).skip(1) {
        get(app_port, &host_of(t), token).await?;
    }
    progress(format!(
        "all servers answer GET {PATH} alike ({} bytes)",
        expected.len()
    ));

    // wrk scripts: the hot tenant alone; all tenants in turn; the baseline driven by the same
    // rotation (every Host, the hot tenant's token, since the baseline serves only that one).
    let dir = tempfile::tempdir()?;
    let write_script = |name: &str, pairs: &[(String, String)]| -> Result<PathBuf> {
        let path = dir.path().join(format!("{name}.lua"));
        std::fs::write(&path, lua_script(pairs)?)?;
        Ok(path)
    };
    let hot_script = write_script("hot", &[(hot_host.clone(), tokens[0].clone())])?;
    let mut loads = vec![
        (Load::Baseline, baseline_port, hot_script.clone()),
        (Load::Tenantry, app_port, hot_script.clone()),
        (Load::Bare, bare_port, hot_script.clone()),
        (Load::ById, by_id_port, hot_script),
    ];
    if args.tenants >= 2 {
        let all: Vec<(String, String)> = tenants
            .iter()
            .zip(&tokens)
            .map(|(t, token)| (host_of(t), token.clone()))
            .collect();
        let fixed_rr: Vec<(String, String)> = all
            .iter()
            .map(|(host, _)| (host.clone(), tokens[0].clone()))
            .collect();
        loads.push((
            Load::BaselineRoundRobin,
            baseline_port,
            write_script("baseline-rr", &fixed_rr)?,
        ));
        loads.push((
            Load::TenantryRoundRobin,
            app_port,
            write_script("tenantry-rr", &all)?,
        ));
    }

    // One wrk run, then a pause as long as a request may wait for a connection, so that the
    // pools' refusals of requests wrk stopped waiting for are counted with this run.
    let mut failures = Vec::new();
    let mut drive = async |what: String, port: u16, script: &Path, secs: u64| -> Result<WrkRun> {
        let refused = state.pools.stats().timeouts;
        let mut run = run_wrk(wrk, args, port, script, secs).await?;
        tokio::time::sleep(settle).await;
        run.pool_timeouts = (state.pools.stats().timeouts - refused) as f64;
        if let Some(errors) = run.errors() {
            progress(format!("FAILED {what}: {errors}"));
            failures.push(format!("{what}: {errors}"));
        }
        Ok(run)
    };
    if args.warmup > 0 {
        for (load, port, script) in &loads {
            let what = format!("warm-up of {}", load.name());
            let run = drive(what, *port, script, args.warmup).await?;
            progress(format!(
                "warm-up {:<12} {:>8.0} req/s",
                load.name(),
                run.rps()
            ));
        }
    }

    // pgbench, the ceiling: the statement Tenantry sent for the hot tenant, same clients.
    let pgbench_exe = pgbench::find_pgbench()?;
    let statement = pgbench::captured_statement(admin_url, &hot.db_name, "tenantry", "ledgers")
        .await
        .context("reading back the hot read's statement")?;
    let pgbench_script = dir.path().join("hot.sql");
    std::fs::write(&pgbench_script, pgbench::script(&statement, 1, 0)?)?;
    progress(format!("pgbench runs: {statement}"));
    let pgbench_run = async |secs: u64| {
        pgbench::run(
            &pgbench_exe,
            admin_url,
            &hot.db_name,
            &pgbench_script,
            args.connections,
            args.threads,
            secs,
        )
        .await
    };
    if args.warmup > 0 {
        pgbench_run(args.warmup).await?;
    }

    let opens_before = state.pools.stats().opens;
    let mut runs: Vec<(Load, Vec<WrkRun>)> = loads.iter().map(|(l, _, _)| (*l, vec![])).collect();
    let (mut paired, mut paired_rr) = (Vec::new(), Vec::new());
    let (mut pgbench_runs, mut paired_pgbench) = (Vec::new(), Vec::new());
    for round in 0..args.rounds {
        let mut this_round = Vec::new();
        for i in 0..loads.len() {
            let (load, port, script) = &loads[(round + i) % loads.len()];
            let what = format!("round {} of {}", round + 1, load.name());
            let run = drive(what, *port, script, args.duration).await?;
            progress(format!(
                "round {}/{} {:<12} {:>8.0} req/s  p50 {:.2} ms  p99 {:.2} ms  max {:.0} ms",
                round + 1,
                args.rounds,
                load.name(),
                run.rps(),
                run.p50_us / 1000.0,
                run.p99_us / 1000.0,
                run.max_us / 1000.0
            ));
            this_round.push((*load, run));
        }
        let rps = |load: Load| {
            this_round
                .iter()
                .find(|(l, _)| *l == load)
                .map(|(_, r)| r.rps())
        };
        if let (Some(t), Some(b)) = (rps(Load::Tenantry), rps(Load::Baseline)) {
            paired.push(t / b);
        }
        let ceiling = pgbench_run(args.duration).await?;
        progress(format!(
            "round {}/{} {:<12} {:>8.0} tps      latency {:.2} ms",
            round + 1,
            args.rounds,
            "pgbench",
            ceiling.tps,
            ceiling.latency_ms
        ));
        if let Some(t) = rps(Load::Tenantry) {
            paired_pgbench.push(t / ceiling.tps);
        }
        pgbench_runs.push(ceiling);
        if let (Some(t), Some(b)) = (rps(Load::TenantryRoundRobin), rps(Load::BaselineRoundRobin)) {
            paired_rr.push(t / b);
        }
        for (load, run) in this_round {
            if let Some((_, all)) = runs.iter_mut().find(|(l, _)| *l == load) {
                all.push(run);
            }
        }
    }
    let pools = state.pools.stats();
    let isolated = isolated_costs(state, &fixed, hot, &hot_host, &tokens[0]).await?;
    Ok(Measured {
        runs,
        paired,
        paired_rr,
        pgbench: pgbench_runs,
        paired_pgbench,
        statement,
        opens_during_rounds: pools.opens - opens_before,
        pools,
        isolated,
        failures,
    })
}

/// What routing costs per request, measured alone on the otherwise idle main runtime.
pub(crate) struct Isolated {
    /// `TenantRouting::resolve` of the hot tenant's Host (a cache hit).
    pub(crate) resolve_us: f64,
    /// `TenantPools::acquire` + drop of the hot tenant's idle slot (no query).
    pub(crate) lease_us: f64,
    /// The token check both sides do, for scale.
    pub(crate) token_us: f64,
}

async fn isolated_costs(
    state: &web::Data<tenantry_http::AppState>,
    fixed: &FixedPool,
    hot: &tenantry_registry::Tenant,
    host: &str,
    token: &str,
) -> Result<Isolated> {
    const N: u32 = 50_000;
    let req = actix_web::test::TestRequest::get()
        .uri(PATH)
        .insert_header((actix_web::http::header::HOST, host))
        .insert_header((AUTHORIZATION, format!("Bearer {token}")))
        .to_http_request();
    let per_call = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(N);
    for _ in 0..1000 {
        state.routing.resolve(&state.directory, &req).await?;
    }
    let started = Instant::now();
    for _ in 0..N {
        std::hint::black_box(state.routing.resolve(&state.directory, &req).await?);
    }
    let resolve_us = per_call(started.elapsed());
    let id = hot.id;
    for _ in 0..1000 {
        drop(state.pools.acquire(id).await?);
    }
    let started = Instant::now();
    for _ in 0..N {
        drop(std::hint::black_box(state.pools.acquire(id).await?));
    }
    let lease_us = per_call(started.elapsed());
    let started = Instant::now();
    for _ in 0..N {
        std::hint::black_box(fixed.authenticate(&req)?);
    }
    let token_us = per_call(started.elapsed());
    Ok(Isolated {
        resolve_us,
        lease_us,
        token_us,
    })
}
