//! Taking the samples: one connect as the connection manager opens it, sequential and concurrent
//! runs of them, and the CPU they cost on each side.

use std::str::FromStr as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _, Executor as _, PgConnection};
use tenantry_test_utils::bench_doc::median;

/// Tasks connecting at once in the concurrent measurement.
pub const CONCURRENCY: usize = 8;
const PBKDF2_CALLS: usize = 200;
/// `USER_HZ`, the unit of the times in `/proc/<pid>/stat` (100 on every Linux target).
const CLOCK_TICKS: f64 = 100.0;

/// The connection manager's options (`tenantry-pool`'s `Slot::open`) for `url`: a TCP URL, or
/// one with `?host=/dir` for the server's Unix socket in `dir`.
pub fn options(url: &str) -> Result<PgConnectOptions> {
    Ok(PgConnectOptions::from_str(url)?
        .application_name("tenantry")
        .options([("statement_timeout", 10_000)])
        .disable_statement_logging())
}

/// One connect as the connection manager opens it, then `SELECT 1` and `close()`; returns the
/// time `connect()` took, ms.
pub async fn connect_once(url: &str) -> Result<f64> {
    let options = options(url)?;
    let started = Instant::now();
    let mut conn = options.connect().await?;
    let connect = started.elapsed().as_secs_f64() * 1e3;
    conn.execute("SELECT 1").await?;
    conn.close().await?;
    Ok(connect)
}

/// The client address the server sees for a session opened on `url` (none over a Unix socket).
pub async fn client_addr(url: &str) -> Result<Option<String>> {
    let mut conn: PgConnection = options(url)?.connect().await?;
    let addr = sqlx::query_scalar("SELECT host(inet_client_addr())")
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    Ok(addr)
}

/// Whether the server refuses a login on `url` for its password (SQLSTATE 28P01); any other
/// failure is an error.
pub async fn refused_for_password(url: &str) -> Result<bool> {
    let Err(e) = connect_once(url).await else {
        return Ok(false);
    };
    match e.downcast_ref::<sqlx::Error>() {
        Some(sqlx::Error::Database(db)) if db.code().as_deref() == Some("28P01") => Ok(true),
        _ => Err(e),
    }
}

/// CPU seconds from `/proc/<pid>/stat`: `utime + stime`, plus `cutime + cstime` (the children
/// it has reaped) when `children`.
pub fn parse_cpu(stat: &str, children: bool) -> Option<f64> {
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15, cutime 16, cstime 17.
    let fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let ticks: Option<Vec<f64>> = fields
        .take(if children { 4 } else { 2 })
        .map(|f| f.parse().ok())
        .collect();
    let ticks = ticks?;
    let all_there = ticks.len() == if children { 4 } else { 2 };
    all_there.then(|| ticks.iter().sum::<f64>() / CLOCK_TICKS)
}

/// The CPU seconds of this process (the client).
fn client_cpu() -> Option<f64> {
    parse_cpu(&std::fs::read_to_string("/proc/self/stat").ok()?, false)
}

/// The server's postmaster, whose reaped children's times include every backend that has
/// exited: its CPU plus theirs is what the server spent on the connects in between.
pub struct Postmaster(pub u32);

impl Postmaster {
    /// From the first line of the data directory's `postmaster.pid`.
    pub fn from_pid_file(text: &str) -> Option<Self> {
        text.lines().next()?.trim().parse().ok().map(Self)
    }

    fn cpu(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.0)).ok()?;
        parse_cpu(&stat, true)
    }
}

/// One run of sequential connects.
pub struct Run {
    pub rate: f64,
    /// `connect()` alone, ms, each connect.
    pub connect_ms: Vec<f64>,
    /// CPU ms per connect of this process, and of the server (when it can be read).
    pub client_cpu_ms: Option<f64>,
    pub server_cpu_ms: Option<f64>,
}

/// `n` sequential connects on `url`.
pub async fn sequential(url: &str, n: usize, server: Option<&Postmaster>) -> Result<Run> {
    let server_before = server.and_then(Postmaster::cpu);
    let (client_before, started) = (client_cpu(), Instant::now());
    let mut connect_ms = Vec::with_capacity(n);
    for _ in 0..n {
        connect_ms.push(connect_once(url).await?);
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    let client_after = client_cpu();
    // Closed backends exit a moment after `close()` returns: let the last one be reaped.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let server_after = server.and_then(Postmaster::cpu);
    let per_connect =
        |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| (b - a) * 1e3 / n as f64);
    Ok(Run {
        rate,
        connect_ms,
        client_cpu_ms: per_connect(client_before, client_after),
        server_cpu_ms: per_connect(server_before, server_after),
    })
}

/// [`CONCURRENCY`] tasks connecting in a loop on `url` for `window`: (connects, seconds).
pub async fn concurrent(url: &str, window: Duration) -> Result<(usize, f64)> {
    let (url, started) = (Arc::<str>::from(url), Instant::now());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let url = url.clone();
        tasks.spawn(async move {
            let mut n = 0usize;
            while started.elapsed() < window {
                connect_once(&url).await?;
                n += 1;
            }
            anyhow::Ok(n)
        });
    }
    let mut total = 0;
    while let Some(n) = tasks.join_next().await {
        total += n??;
    }
    Ok((total, started.elapsed().as_secs_f64()))
}

/// The machine's 1-minute load average (`/proc/loadavg`), to read the figures by: client and
/// server share the CPUs with whatever else runs.
pub fn load_average() -> f64 {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let first = text.split_whitespace().next();
    first.and_then(|l| l.parse().ok()).unwrap_or(f64::NAN)
}

/// Median µs of [`PBKDF2_CALLS`] client-side PBKDF2-HMAC-SHA256 derivations at `rounds`.
pub fn pbkdf2_us(password: &str, rounds: u32) -> f64 {
    let samples: Vec<f64> = (0..PBKDF2_CALLS)
        .map(|_| {
            let (password, started) = (std::hint::black_box(password.as_bytes()), Instant::now());
            let key = pbkdf2::pbkdf2_hmac_array::<sha2::Sha256, 32>(password, &[7; 16], rounds);
            std::hint::black_box(key);
            started.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    median(&samples)
}
