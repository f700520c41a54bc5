//! The loads outside the pools' closed loop: **C** by `pgbench -C` and the cold tenant.

use std::str::FromStr;
use std::time::Instant;

use anyhow::{Context as _, Result, ensure};
use sqlx::{ConnectOptions as _, Connection as _};
use tenantry_pool::{PoolConfig, TenantPools};

use crate::QUERY;
use crate::workload::{Fleet, request};

/// `pgbench -C`: a new connection per transaction, as the tenant role, on one bench database.
pub(crate) async fn pgbench_connect_rate(
    fleet: &Fleet,
    concurrency: usize,
    secs: u64,
) -> Result<f64> {
    let url = url::Url::parse(&fleet.admin_url)?;
    let script =
        std::env::temp_dir().join(format!("tenantry-bench-pool-{}.sql", std::process::id()));
    std::fs::write(&script, "SELECT v FROM items WHERE id = 1;\n")?;
    let pgbench = ["/usr/lib/postgresql/15/bin/pgbench", "pgbench"]
        .into_iter()
        .find(|p| !p.starts_with('/') || std::path::Path::new(p).exists())
        .unwrap_or("pgbench");
    let output = tokio::process::Command::new(pgbench)
        .args([
            "-n",
            "-C",
            "-c",
            &concurrency.min(16).to_string(),
            "-j",
            "2",
            "-T",
            &secs.to_string(),
            "-f",
        ])
        .arg(&script)
        .args(["-h", url.host_str().unwrap_or("127.0.0.1")])
        .args(["-p", &url.port().unwrap_or(5432).to_string()])
        .args(["-U", &fleet.role, &fleet.databases[0]])
        .env("PGPASSWORD", &fleet.password)
        .output()
        .await
        .context("running pgbench")?;
    std::fs::remove_file(&script).ok();
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success(),
        "pgbench failed: {}{}",
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l["tps = ".len()..].split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no tps in pgbench output: {stdout}"))
}

/// First request to tenants with no pool, against a bare connect + the same query (medians, ms).
pub(crate) async fn cold_tenant(fleet: &Fleet, rounds: usize) -> Result<(f64, f64)> {
    let (ids, targets) = fleet.tenants(rounds, 5)?;
    let pools = TenantPools::new(PoolConfig::default(), targets);
    let mut tenantry = Vec::new();
    let mut bare = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let t0 = Instant::now();
        request(&pools, *id, 1).await?;
        tenantry.push(t0.elapsed().as_secs_f64() * 1000.0);

        let db = &fleet.databases[i % fleet.databases.len()];
        let options = sqlx::postgres::PgConnectOptions::from_str(&fleet.url(db)?)?;
        let t0 = Instant::now();
        let mut conn = options.connect().await?;
        sqlx::query(QUERY).bind(1).fetch_optional(&mut conn).await?;
        bare.push(t0.elapsed().as_secs_f64() * 1000.0);
        conn.close().await?;
    }
    Ok((median(tenantry), median(bare)))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    v[v.len() / 2]
}
