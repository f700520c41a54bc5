//! `wrk` on 127.0.0.1, shared by `benches/http.rs` and `benches/churn.rs`: finding it, running
//! it, the Lua `done` hook that prints its figures on one marker line, parsing that line, and
//! the CPU time spent over a run.

// Included by two benches, each using part of it.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use serde::Deserialize;

/// `wrk` gives up on a request after this long (it then counts a timeout).
pub const WRK_TIMEOUT: &str = "2s";
/// Starts the line our `done` hook prints.
pub const WRK_MARKER: &str = "TENANTRY_WRK ";

/// What wrk reported for one run (printed by the `done` hook of our Lua script).
#[derive(Debug, Clone, Deserialize)]
pub struct WrkRun {
    pub requests: f64,
    pub duration_us: f64,
    pub connect: f64,
    pub read: f64,
    pub write: f64,
    /// Answers with a status above 399 (wrk's own count).
    pub status: f64,
    pub timeout: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    /// Not from wrk: requests the pools refused after `acquire_timeout` (503 `database_busy`),
    /// counted by the application, including those wrk stopped waiting for.
    #[serde(default)]
    pub pool_timeouts: f64,
    /// Not from wrk: the machine's CPUs busy over the run (0–1, all processes).
    #[serde(default)]
    pub busy: f64,
    /// Not from wrk: this process's CPU time (both servers, the pools, the runtime) per request.
    #[serde(default)]
    pub server_cpu_us: f64,
}

impl WrkRun {
    pub fn rps(&self) -> f64 {
        self.requests / (self.duration_us / 1e6)
    }
}

pub fn parse_wrk(stdout: &str) -> Result<WrkRun> {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(WRK_MARKER))
        .with_context(|| format!("no {WRK_MARKER:?} line in wrk's output:\n{stdout}"))?;
    let run: WrkRun = serde_json::from_str(line).with_context(|| format!("parsing {line:?}"))?;
    ensure!(
        run.requests > 0.0 && run.duration_us > 0.0,
        "wrk completed no request: {line}"
    );
    Ok(run)
}

/// `s` as a Lua string literal; only the characters of hosts and tokens are accepted, so
/// nothing needs escaping.
pub fn lua_string(s: &str) -> Result<String> {
    ensure!(
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b)),
        "unexpected character in {s:?}"
    );
    Ok(format!("\"{s}\""))
}

/// The Lua `done` hook printing wrk's figures as JSON on one [`WRK_MARKER`] line (with a final
/// newline).
pub fn done_hook() -> String {
    format!(
        "done = function(summary, latency, requests)\n\
         \x20 local e = summary.errors\n\
         \x20 io.write(string.format('{WRK_MARKER}{{\"requests\":%.0f,\"duration_us\":%.0f,\
         \"connect\":%.0f,\"read\":%.0f,\"write\":%.0f,\"status\":%.0f,\"timeout\":%.0f,\
         \"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}}\\n',\n\
         \x20   summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,\n\
         \x20   latency:percentile(50), latency:percentile(99), latency.max))\n\
         end\n"
    )
}

/// CPU time so far, in clock ticks (`USER_HZ`, 100 on Linux): the machine's (total, idle) and
/// this process's.
#[derive(Clone, Copy)]
pub struct CpuTicks {
    pub total: u64,
    pub idle: u64,
    pub process: u64,
}

pub const USER_HZ: f64 = 100.0;

pub fn cpu_ticks() -> Result<CpuTicks> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let cpu: Vec<u64> = stat
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("cpu "))
        .context("no cpu line in /proc/stat")?
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    ensure!(cpu.len() >= 5, "short cpu line in /proc/stat");
    let own = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name (which may hold spaces); utime and stime are the 14th and
    // 15th of the whole line.
    let after = own.rsplit_once(')').context("/proc/self/stat")?.1;
    let fields: Vec<u64> = after
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    ensure!(fields.len() > 12, "short /proc/self/stat");
    Ok(CpuTicks {
        // user nice system idle iowait irq softirq steal (guest time is already in user).
        total: cpu.iter().take(8).sum(),
        idle: cpu[3] + cpu[4],
        process: fields[10] + fields[11],
    })
}

/// Runs wrk (`-t threads -c connections`) against `path` on 127.0.0.1:`port` (never anywhere
/// else) for `secs`; returns its figures, with the CPU time over the run, and its whole stdout.
pub async fn run_wrk(
    wrk: &Path,
    threads: usize,
    connections: usize,
    port: u16,
    path: &str,
    script: &Path,
    secs: u64,
) -> Result<(WrkRun, String)> {
    let url = format!(
        "http://{}{path}",
        SocketAddr::from((Ipv4Addr::LOCALHOST, port))
    );
    let mut cmd = tokio::process::Command::new(wrk);
    cmd.arg(format!("-t{threads}"))
        .arg(format!("-c{connections}"))
        .arg(format!("-d{secs}s"))
        .args(["--timeout", WRK_TIMEOUT, "-s"])
        .arg(script)
        .arg(&url)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let before = cpu_ticks()?;
    let out = tokio::time::timeout(Duration::from_secs(secs + 30), cmd.output())
        .await
        .with_context(|| format!("wrk still running {secs} s + 30 s after it started"))?
        .with_context(|| format!("running {}", wrk.display()))?;
    ensure!(
        out.status.success(),
        "wrk failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let after = cpu_ticks()?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut run = parse_wrk(&stdout)?;
    let total = after.total.saturating_sub(before.total).max(1) as f64;
    run.busy = 1.0 - after.idle.saturating_sub(before.idle) as f64 / total;
    run.server_cpu_us =
        after.process.saturating_sub(before.process) as f64 * 1e6 / USER_HZ / run.requests;
    Ok((run, stdout))
}

/// Traffic stays on this machine: the database must be on loopback too.
pub fn check_loopback(url: &str) -> Result<()> {
    let parsed = url::Url::parse(url).context("TENANTRY_TEST_PG_URL")?;
    let host = parsed.host_str().unwrap_or_default();
    ensure!(
        matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "::1"),
        "TENANTRY_TEST_PG_URL points at {host:?}: this benchmark only talks to 127.0.0.1"
    );
    Ok(())
}

/// `wrk` on PATH; `bench` names the `scripts/bench` subcommand that installs it.
pub fn find_wrk(bench: &str) -> Result<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("wrk"))
        .find(|p| p.is_file())
        .with_context(|| {
            format!("wrk is not on PATH: run `scripts/bench {bench}`, which installs it")
        })
}
