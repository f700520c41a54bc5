//! The load generator: closed-loop tasks over the pools, one `Outcome` per load.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use tenantry_core::TenantId;
use tenantry_pool::{PoolConfig, PoolError, TenantPools};

use crate::workload::{Fleet, Rng, Targets, Zipf, admin_exec, admin_scalar, request};

#[derive(Debug, Default, Clone)]
pub(crate) struct Outcome {
    pub(crate) requests: usize,
    pub(crate) elapsed: Duration,
    pub(crate) latencies_us: Vec<u64>,
    /// Errors by kind ("exhausted", "unavailable", …).
    pub(crate) errors: HashMap<&'static str, usize>,
    pub(crate) untyped_errors: usize,
    /// Tenant rank of each request in the order requests started, and whether it started in
    /// the measured window (after the warm-up).
    pub(crate) trace: Vec<(u32, bool)>,
    /// Connections opened by the pools during the measured window.
    pub(crate) opens: u64,
    /// Highest count of the role's sessions, over the warm-up and the window.
    pub(crate) peak_connections: i64,
    /// Sessions PostgreSQL counted over the warm-up and the window (a cross-check of `opens`).
    pub(crate) sessions: i64,
    pub(crate) warmup_opens: u64,
}

impl Outcome {
    pub(crate) fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    pub(crate) fn percentile_ms(&self, p: f64) -> f64 {
        let mut v = self.latencies_us.clone();
        if v.is_empty() {
            return 0.0;
        }
        v.sort_unstable();
        let i = ((v.len() - 1) as f64 * p).round() as usize;
        v[i] as f64 / 1000.0
    }

    pub(crate) fn error_count(&self) -> usize {
        self.errors.values().sum::<usize>() + self.untyped_errors
    }

    /// Misses per request in the measured window (connections opened per request).
    pub(crate) fn misses(&self) -> f64 {
        self.opens as f64 / self.requests.max(1) as f64
    }
}

/// Runs `concurrency` closed-loop tasks for `warmup` + `duration` over `tenants` drawn by
/// `zipf`, measuring the requests that start after the warm-up, and sampling the role's server
/// connections every 10 ms throughout.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn drive(
    fleet: &Fleet,
    admin: &sea_orm::DatabaseConnection,
    config: PoolConfig,
    tenants: (Vec<TenantId>, Arc<Targets>),
    zipf: Option<Zipf>,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
) -> Result<Outcome> {
    let sessions_before = sessions(admin, fleet).await?;
    let (ids, targets) = tenants;
    let pools = TenantPools::new(config, targets);
    let housekeeping = pools.spawn_housekeeping();
    let ids = Arc::new(ids);
    let zipf = Arc::new(zipf);
    let trace = Arc::new(Mutex::new(Vec::<(u32, bool)>::new()));
    let stop = Arc::new(AtomicBool::new(false));

    let role = fleet.role.clone();
    let sampler = {
        let stop = stop.clone();
        let admin = admin.clone();
        tokio::spawn(async move {
            let sql = format!("SELECT count(*) FROM pg_stat_activity WHERE usename = '{role}'");
            let mut peak = 0;
            while !stop.load(Ordering::Relaxed) {
                if let Ok(n) = admin_scalar(&admin, &sql).await {
                    peak = peak.max(n);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            peak
        })
    };

    let warm_end = Instant::now() + warmup;
    let deadline = warm_end + duration;
    let warmup_opens = {
        let pools = pools.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(warm_end.into()).await;
            pools.stats().opens
        })
    };
    let tasks: Vec<_> = (0..concurrency)
        .map(|task| {
            let (pools, ids, zipf, trace) =
                (pools.clone(), ids.clone(), zipf.clone(), trace.clone());
            tokio::spawn(async move {
                let mut rng = Rng(0x5EED ^ (task as u64) << 32);
                let mut out = Outcome::default();
                while Instant::now() < deadline {
                    let rank = match zipf.as_ref() {
                        Some(z) => z.sample(rng.next_f64()),
                        None => 0,
                    };
                    let t0 = Instant::now();
                    let measured = t0 >= warm_end;
                    trace.lock().unwrap().push((rank as u32, measured));
                    let id = (rng.next_f64() * 100.0) as i32 + 1;
                    match request(&pools, ids[rank], id).await {
                        Ok(()) if !measured => {}
                        Ok(()) => {
                            out.requests += 1;
                            out.latencies_us.push(t0.elapsed().as_micros() as u64);
                        }
                        Err(_) if !measured => {}
                        Err(e) => {
                            let kind = match e {
                                PoolError::Exhausted { .. } => "exhausted (503)",
                                PoolError::Unavailable { .. } => "unavailable (503)",
                                _ => "other",
                            };
                            if kind == "other" {
                                out.untyped_errors += 1;
                            } else {
                                *out.errors.entry(kind).or_default() += 1;
                            }
                        }
                    }
                }
                out
            })
        })
        .collect();
    let mut total = Outcome::default();
    for task in tasks {
        let out = task.await?;
        total.requests += out.requests;
        total.latencies_us.extend(out.latencies_us);
        total.untyped_errors += out.untyped_errors;
        for (k, v) in out.errors {
            *total.errors.entry(k).or_default() += v;
        }
    }
    total.elapsed = warm_end.elapsed();
    stop.store(true, Ordering::Relaxed);
    total.peak_connections = sampler.await?;
    total.warmup_opens = warmup_opens.await?;
    total.opens = pools.stats().opens - total.warmup_opens;
    total.trace = std::mem::take(&mut *trace.lock().unwrap());
    housekeeping.abort();
    drop(pools);
    // Sessions are counted by PostgreSQL as they end: wait for the pools' connections to close.
    let sql = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE usename = '{}'",
        fleet.role
    );
    let until = Instant::now() + Duration::from_secs(10);
    while admin_scalar(admin, &sql).await? > 0 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    total.sessions = sessions(admin, fleet).await? - sessions_before;
    Ok(total)
}

async fn sessions(admin: &sea_orm::DatabaseConnection, fleet: &Fleet) -> Result<i64> {
    admin_exec(admin, "SELECT pg_stat_clear_snapshot()").await?;
    let list = fleet
        .databases
        .iter()
        .map(|d| format!("'{d}'"))
        .collect::<Vec<_>>()
        .join(",");
    admin_scalar(
        admin,
        &format!(
            "SELECT COALESCE(sum(sessions), 0)::bigint FROM pg_stat_database WHERE datname IN ({list})"
        ),
    )
    .await
}
