//! The figures of each way to connect, and the markdown tables that compare them.

use std::fmt::Write as _;

use tenantry_test_utils::bench_doc::median;

use crate::sample::{CONCURRENCY, Run};

/// Issue #19: connects/s as a tenant role ≥ 1.3 × today's (16 rounds over TCP against 4096).
pub const TARGET: f64 = 1.3;

/// One way to connect, all its figures.
#[derive(Default, Clone)]
pub struct Side {
    /// Connects/s of each measured round.
    pub rates: Vec<f64>,
    /// `connect()` alone, ms, every measured sample.
    pub connect_ms: Vec<f64>,
    /// CPU ms per connect of each measured round, of this process and of the server (each
    /// empty when it cannot be read).
    pub client_cpu_ms: Vec<f64>,
    pub server_cpu_ms: Vec<f64>,
    /// Connects/s of [`CONCURRENCY`] tasks.
    pub concurrent: f64,
    pub pbkdf2_us: f64,
}

impl Side {
    pub fn add(&mut self, run: Run) {
        self.rates.push(run.rate);
        self.connect_ms.extend(run.connect_ms);
        self.client_cpu_ms.extend(run.client_cpu_ms);
        self.server_cpu_ms.extend(run.server_cpu_ms);
    }
}

/// Nearest-rank percentile, `p` in (0, 1].
pub fn percentile(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = (p * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// The median of the per-round ratios of `a`'s connects/s to `b`'s ("paired").
fn paired(a: &Side, b: &Side) -> f64 {
    let ratios: Vec<f64> = a.rates.iter().zip(&b.rates).map(|(a, b)| a / b).collect();
    median(&ratios)
}

fn verdict(gain: f64) -> String {
    let met = if gain >= TARGET { "met" } else { "**missed**" };
    format!("≥ {TARGET}× — {met}")
}

/// A row of times: `a`'s, `b`'s and the gain (`b` ÷ `a`).
fn time_row(out: &mut String, what: &str, a: f64, b: f64) {
    let gain = b / a;
    let _ = writeln!(out, "| {what} | {a:.2} | {b:.2} | {gain:.2}× | |");
}

/// The rows every comparison has: `a` against `b` (for a rate the gain is `a` ÷ `b`, for a time
/// `b` ÷ `a`); `target` judges the sequential gain.
fn compare(out: &mut String, a: &Side, b: &Side, target: bool) {
    let gain = paired(a, b);
    let judged = if target { verdict(gain) } else { String::new() };
    let (ra, rb) = (median(&a.rates), median(&b.rates));
    let _ = writeln!(
        out,
        "| **sequential connects/s** (median of rounds) | {ra:.0} | {rb:.0} | {gain:.2}× \
         (paired) | {judged} |"
    );
    for (q, what) in [(0.5, "p50"), (0.99, "p99")] {
        let what = format!("&nbsp;&nbsp;`connect()` {what} ms");
        let (pa, pb) = (percentile(&a.connect_ms, q), percentile(&b.connect_ms, q));
        time_row(out, &what, pa, pb);
    }
    let cpu = [
        (
            "this process (the client)",
            &a.client_cpu_ms,
            &b.client_cpu_ms,
        ),
        (
            "the server (postmaster + backends)",
            &a.server_cpu_ms,
            &b.server_cpu_ms,
        ),
    ];
    for (whose, ca, cb) in cpu {
        if !ca.is_empty() && !cb.is_empty() {
            let what = format!("&nbsp;&nbsp;CPU of {whose} per connect, ms");
            time_row(out, &what, median(ca), median(cb));
        }
    }
    let (ca, cb) = (a.concurrent, b.concurrent);
    let _ = writeln!(
        out,
        "| **{CONCURRENCY} concurrent tasks**, connects/s | {ca:.0} | {cb:.0} | {:.2}× | |",
        ca / cb
    );
}

/// Our verifier (16 rounds) against PostgreSQL's default (4096), both over TCP.
pub fn scram_table(ours: &Side, theirs: &Side) -> String {
    let mut out = String::from(
        "| measurement | tenant role (16 rounds) | baseline role (4096 rounds) | gain | target |\n\
         |---|---:|---:|---:|---|\n",
    );
    compare(&mut out, ours, theirs, true);
    let what = "client PBKDF2-HMAC-SHA256 alone (`pbkdf2` crate), median µs";
    time_row(&mut out, what, ours.pbkdf2_us, theirs.pbkdf2_us);
    out
}

/// The tenant role over the Unix socket against the same role over TCP, then both changes
/// (socket and 16 rounds) against today (TCP and 4096 rounds).
pub fn socket_table(socket: &Side, tcp: &Side, today: &Side) -> String {
    let mut out = String::from(
        "| measurement | Unix socket (16 rounds) | TCP 127.0.0.1 (16 rounds) | gain | target |\n\
         |---|---:|---:|---:|---|\n",
    );
    compare(&mut out, socket, tcp, false);
    let (gain, r, t) = (
        paired(socket, today),
        median(&socket.rates),
        median(&today.rates),
    );
    let _ = writeln!(
        out,
        "| **both changes**: socket + 16 rounds against TCP + 4096 rounds, sequential \
         connects/s | {r:.0} | {t:.0} (4096 rounds) | {gain:.2}× (paired) | {} |",
        verdict(gain)
    );
    let (c, ct) = (socket.concurrent, today.concurrent);
    let _ = writeln!(
        out,
        "| &nbsp;&nbsp;the same, {CONCURRENCY} concurrent tasks | {c:.0} | {ct:.0} (4096 rounds) \
         | {:.2}× | |",
        c / ct
    );
    out
}

/// What `cargo test` checks: the statistics, the parsing and the tables (panics on a mismatch).
pub fn self_check() {
    use crate::same_host::{first_socket_dir, with_rule};
    use crate::sample::{Postmaster, parse_cpu};
    assert_eq!(median(&[3.0, 1.0, 2.0, 9.0]), 2.5, "median");
    let v: Vec<f64> = (1..=100).map(f64::from).collect();
    assert_eq!((percentile(&v, 0.5), percentile(&v, 0.99)), (50.0, 99.0));
    let stat = "42 (tokio (rt)) S 1 2 3 4 5 6 7 8 9 10 250 150 30 20 20 0";
    assert_eq!(parse_cpu(stat, false), Some(4.0), "utime + stime");
    assert_eq!(parse_cpu(stat, true), Some(4.5), "with the reaped children");
    assert_eq!(parse_cpu("42 (pg) S 1 2 3 4 5 6 7 8 9 10 250", false), None);
    assert_eq!(
        Postmaster::from_pid_file("4242\n/data\n").map(|p| p.0),
        Some(4242)
    );
    let dirs = "@abstract, /tmp/tenantry-pg.x, /run";
    assert_eq!(first_socket_dir(dirs), Some("/tmp/tenantry-pg.x"));
    assert_eq!(first_socket_dir(""), None);
    let hba = with_rule("local all all trust\n", "t_bench");
    assert!(hba.ends_with("\nlocal all \"t_bench\" scram-sha-256\nlocal all all trust\n"));

    let side = |rates: Vec<f64>, ms: f64| Side {
        rates,
        connect_ms: vec![ms; 10],
        client_cpu_ms: vec![ms / 2.0],
        server_cpu_ms: vec![ms],
        concurrent: 100.0 / ms,
        pbkdf2_us: ms * 100.0,
    };
    let has = |table: &str, row: &str| assert!(table.contains(row), "{row:?} in\n{table}");
    let ours = side(vec![300.0, 280.0, 330.0], 2.0);
    let theirs = side(vec![200.0; 3], 4.0);
    let table = scram_table(&ours, &theirs);
    has(&table, "| 1.50× (paired) | ≥ 1.3× — met |");
    has(&table, "`connect()` p50 ms | 2.00 | 4.00 | 2.00× |");
    has(
        &table,
        "CPU of this process (the client) per connect, ms | 1.00 | 2.00 |",
    );
    has(
        &table,
        "(postmaster + backends) per connect, ms | 2.00 | 4.00 |",
    );
    let table = scram_table(&side(vec![210.0], 2.0), &side(vec![200.0], 4.0));
    has(&table, "1.05× (paired) | ≥ 1.3× — **missed** |");

    let socket = side(vec![360.0, 336.0, 396.0], 1.0);
    let table = socket_table(&socket, &ours, &theirs);
    has(&table, "| 360 | 300 | 1.20× (paired) |  |");
    has(
        &table,
        "| 360 | 200 (4096 rounds) | 1.80× (paired) | ≥ 1.3× — met |",
    );
    has(
        &table,
        "concurrent tasks | 100 | 25 (4096 rounds) | 4.00× | |",
    );
}
