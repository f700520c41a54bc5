//! The report: medians and summaries of the runs, the table, and its section of the doc.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result};
use tenantry_test_utils::bench_doc::Machine;

use crate::args::Args;
use crate::load::Load;
use crate::measure::Measured;
use crate::wrk::{WRK_TIMEOUT, WrkRun};
use crate::{PATH, PGBENCH_TARGET, SECTION, TARGET_RATIO};

pub(crate) struct Results {
    pub(crate) args: Args,
    pub(crate) machine: Machine,
    pub(crate) workers: usize,
    pub(crate) max_connections: u32,
    pub(crate) measured: Measured,
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    assert!(n > 0, "no samples");
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Median req/s, its range, and the median p50 and p99 (ms) over a load's runs.
struct Summary {
    rps: f64,
    min: f64,
    max: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    non_2xx: f64,
    timeouts: f64,
    busy: f64,
    server_cpu_us: f64,
}

fn summarise(runs: &[WrkRun]) -> Summary {
    let rps: Vec<f64> = runs.iter().map(WrkRun::rps).collect();
    Summary {
        min: rps.iter().copied().fold(f64::INFINITY, f64::min),
        max: rps.iter().copied().fold(0.0, f64::max),
        rps: median(rps),
        p50_ms: median(runs.iter().map(|r| r.p50_us / 1000.0).collect()),
        p99_ms: median(runs.iter().map(|r| r.p99_us / 1000.0).collect()),
        busy: median(runs.iter().map(|r| r.busy).collect()),
        server_cpu_us: median(runs.iter().map(|r| r.server_cpu_us).collect()),
        max_ms: runs.iter().map(|r| r.max_us / 1000.0).fold(0.0, f64::max),
        non_2xx: runs.iter().map(|r| r.status).sum(),
        timeouts: runs.iter().map(|r| r.timeout).sum(),
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**missed**" }
}

pub(crate) fn report(r: &Results) -> String {
    let m = &r.measured;
    let mut out = String::from(
        "| measurement | req/s (median) | min – max | p50 ms | p99 ms | max ms | non-2xx / timeouts | CPUs \
         busy | server CPU µs/req | × baseline (medians) | × baseline (paired) | target |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    let mut row = |label: &str, s: &Summary, base: Option<f64>, paired: &[f64], target: &str| {
        let ratio = base.map_or(String::new(), |b| format!("{:.2}×", s.rps / b));
        let paired = if paired.is_empty() {
            String::new()
        } else {
            format!("{:.2}×", median(paired.to_vec()))
        };
        let _ = writeln!(
            out,
            "| {label} | {:.0} | {:.0} – {:.0} | {:.2} | {:.2} | {:.0} | {} | {:.0}% | {:.0} | \
             {ratio} | {paired} | {target} |",
            s.rps,
            s.min,
            s.max,
            s.p50_ms,
            s.p99_ms,
            s.max_ms,
            if s.non_2xx + s.timeouts > 0.0 {
                format!("**{} / {}**", s.non_2xx, s.timeouts)
            } else {
                "0 / 0".to_owned()
            },
            s.busy * 100.0,
            s.server_cpu_us
        );
    };
    let n = r.max_connections;
    let base = m.of(Load::Baseline).map(summarise);
    let base_rps = base.as_ref().map(|b| b.rps);
    if let Some(b) = &base {
        row(
            &format!(
                "**baseline**: the same handler on one fixed pool (`max_connections` {n}), same \
                 middleware, 1 tenant"
            ),
            b,
            base_rps,
            &[],
            "",
        );
    }
    if let Some(t) = m.of(Load::Tenantry).map(summarise) {
        let ratio = base_rps.map_or(0.0, |b| t.rps / b);
        row(
            "**Tenantry**: Host → tenant directory → `TenantPools` lease → handler, 1 hot tenant",
            &t,
            base_rps,
            &m.paired,
            &format!(
                "≥ {TARGET_RATIO}× — {}",
                verdict(ratio >= TARGET_RATIO && median(m.paired.clone()) >= TARGET_RATIO)
            ),
        );
    }
    if let Some(s) = m.of(Load::Bare).map(summarise) {
        row(
            "&nbsp;&nbsp;for scale: the baseline without middleware (no request span, no request id)",
            &s,
            base_rps,
            &[],
            "",
        );
    }
    if let Some(s) = m.of(Load::ById).map(summarise) {
        row(
            "&nbsp;&nbsp;for scale: the same handler leasing from `TenantPools` by tenant id \
             (Tenantry's connections, no routing)",
            &s,
            base_rps,
            &[],
            "",
        );
    }
    let base_rr = m.of(Load::BaselineRoundRobin).map(summarise);
    let base_rr_rps = base_rr.as_ref().map(|b| b.rps);
    if let Some(b) = &base_rr {
        row(
            &format!(
                "**baseline, round-robin script**: the same Lua request rotation ({} Hosts), all \
                 to the fixed pool",
                r.args.tenants
            ),
            b,
            base_rr_rps,
            &[],
            "",
        );
    }
    if let Some(t) = m.of(Load::TenantryRoundRobin).map(summarise) {
        row(
            &format!(
                "**Tenantry, {} tenants round-robin** (one pool per tenant, all cached)",
                r.args.tenants
            ),
            &t,
            base_rr_rps,
            &m.paired_rr,
            "for information",
        );
    }
    if !m.pgbench.is_empty() {
        let tps: Vec<f64> = m.pgbench.iter().map(|run| run.tps).collect();
        let ceiling = median(tps.clone());
        let latency = median(m.pgbench.iter().map(|run| run.latency_ms).collect());
        let (lo, hi) = tps
            .iter()
            .fold((f64::MAX, 0.0_f64), |(lo, hi), &t| (lo.min(t), hi.max(t)));
        let hot = m.of(Load::Tenantry).map(summarise).map_or(0.0, |t| t.rps);
        let paired = median(m.paired_pgbench.clone());
        let _ = writeln!(
            out,
            "| **pgbench**, the statement Tenantry sent (below), `-n -M prepared -c{} -j{}`, \
             {} s a round | {ceiling:.0} tps | {lo:.0} – {hi:.0} | {latency:.2} (mean) | | | | | | \
             | | |\n\n**Tenantry ÷ pgbench**: {:.2}× (medians), {paired:.2}× (paired) — target ≥ \
             {PGBENCH_TARGET}×: {}.",
            r.args.connections,
            r.args.threads,
            r.args.duration,
            hot / ceiling,
            verdict(hot / ceiling >= PGBENCH_TARGET && paired >= PGBENCH_TARGET),
        );
    }
    let p = &m.pools;
    let _ = writeln!(
        out,
        "\n`TenantPools` over the whole run: {} hits, {} opens ({} during the measured rounds), \
         {} waits, {} timeouts, {} steals.",
        p.hits, p.opens, m.opens_during_rounds, p.waits, p.timeouts, p.steals
    );
    let i = &m.isolated;
    let _ = writeln!(
        out,
        "Routing alone (main runtime, no load, 50,000 calls each): Host → tenant (cache hit) \
         {:.2} µs, `TenantPools` lease + release of an idle slot {:.2} µs; for scale, the token \
         check both sides do {:.2} µs.",
        i.resolve_us, i.lease_us, i.token_us
    );
    if !m.failures.is_empty() {
        let _ = writeln!(
            out,
            "\n**The run failed: requests got non-2xx answers or socket errors.**\n"
        );
        for f in &m.failures {
            let _ = writeln!(out, "- {f}");
        }
    }
    out
}

pub(crate) fn section(r: &Results, table: &str) -> String {
    let m = &r.machine;
    let a = &r.args;
    let durability_note = if m.durable {
        String::new()
    } else {
        "\n**Warning: durability was off on this server; these figures are not representative.**\n"
            .to_owned()
    };
    format!(
        "{SECTION}\n\n\
         Run {date} · {cpus} CPUs ({cpu}), shared by the servers, PostgreSQL and wrk · release \
         build (`cargo bench`) · PostgreSQL {pg} ({durability}) · {workers} actix workers per \
         server · `wrk {wrk}` on 127.0.0.1, {rounds} rounds after a {warmup} s warm-up of each · \
         `scripts/bench http{flags}`\n\
         {durability_note}\n\
         Method: one process serves every server, each with the same worker count. \
         **Tenantry** is the real `Application` (tenant directory → `TenantPools`, default \
         settings, plan `{plan}`). **Baseline** is an actix-web server whose handler does what \
         `GET {PATH}` does — the same HS256 token check (key derived from the \
         master key as `auth.rs` does; copied, since the crate exposes no verifier), the page \
         ordered by code and its count in one statement (the application's `Page::fetch`), the \
         same JSON — on one fixed sqlx pool to the \
         hot tenant's database as its role (`max_connections` = the plan's {n}, no ping before \
         acquire, opened lazily by the workers), behind the same request-span and request-id \
         middleware. Two more servers, for scale, run the same handler without middleware, and \
         leasing the hot tenant's connection from a `TenantPools` of its own by tenant id for the \
         whole request, as `TenantDb` does once the tenant is resolved (Tenantry's connections \
         without the routing: no Host lookup, no tenant middleware or extractors, same \
         middleware as the baseline). All connect as the hot tenant's \
         role, whose `CONNECTION LIMIT` ({n}) is raised to {n3} for the run so that they all \
         fit. Every server answers the same body (checked before measuring). wrk sends the same \
         request to each (`Host: <tenant>.localhost`, bearer token); each round runs every load \
         once, rotating the order, then pauses for the pools' `acquire_timeout` + 0.5 s; \
         \"paired\" is the median of the per-round ratios. \"non-2xx / timeouts\" are wrk's \
         counts over all rounds (a timeout is a request unanswered after {WRK_TIMEOUT}); \"max\" \
         is the slowest request of any round. Any non-2xx answer, socket error or request the \
         pools refused fails the run (the table is still written). No tracing subscriber is installed (spans are \
         created, not recorded), for all. Latencies are wrk's (closed loop, {conns} \
         connections). \"CPUs busy\" is the whole machine (servers, PostgreSQL and wrk share \
         it); \"server CPU\" is this process's CPU time per request. **pgbench** runs, after \
         each round's wrk loads, the statement Tenantry sent for the hot read (read back from \
         `pg_stat_activity`, its limit and offset bound as pgbench variables) on the hot \
         tenant's database with as many clients as wrk has connections, as the superuser (the \
         tenant role's connection limit is below that): the most PostgreSQL alone serves of \
         this read here. Statement: `{statement}`\n\n\
         {table}",
        statement = r.measured.statement,
        date = chrono::Utc::now().format("%Y-%m-%d"),
        cpus = m.cpus,
        cpu = m.cpu_model,
        pg = m.pg_version,
        durability = m.durability,
        workers = r.workers,
        wrk = a.wrk_flags(),
        rounds = a.rounds,
        warmup = a.warmup,
        flags = a.non_default(),
        conns = a.connections,
        n = r.max_connections,
        n3 = 3 * r.max_connections,
        plan = a.plan,
    )
}

/// Replaces (or appends) this benchmark's section of `doc`, keeping everything else.
pub(crate) fn write_doc(doc: &Path, section: &str) -> Result<()> {
    tenantry_test_utils::bench_doc::write_section(doc, SECTION, section)
        .with_context(|| format!("writing {}", doc.display()))
}
