//! The table, the targets of issue #19 and the section of docs/benchmarks.md.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use tenantry_test_utils::bench_doc::Machine;

use crate::fleet::PLAN;
use crate::load::Outcome;
use crate::wrk::WRK_TIMEOUT;
use crate::{SECTION, ZIPF_S};

/// Issue #19: room for all ≥ 0.6 × the hot tenant's req/s, p99 ≤ 100 ms.
const ROOM_RATIO: f64 = 0.6;
const ROOM_P99_MS: f64 = 100.0;
/// Issue #19: scarce ≥ 0.7 × the churn ceiling, peak ≤ its budget, typed 503s < 1 % of requests,
/// no timeout, p99 ≤ 250 ms.
const SCARCE_RATIO: f64 = 0.7;
const SCARCE_SHARE_503: f64 = 0.01;
const SCARCE_P99_MS: f64 = 250.0;
/// Issue #19: a hot tenant whose budget is full of other tenants' idle connections serves
/// ≥ 0.9 × what it serves with the budget free.
const CROWDED_RATIO: f64 = 0.9;

pub struct Results {
    pub machine: Machine,
    pub workers: usize,
    pub tenants: usize,
    pub warmup: u64,
    pub duration: u64,
    /// The flags that differ from the defaults, as `scripts/bench churn` takes them.
    pub flags: String,
    /// Connects/s as a tenant role (sequential), and how many were timed.
    pub connects: (f64, u64),
    pub connect_secs: f64,
    /// (label, budget, outcome): hot, crowded hot, room for all, scarce.
    pub hot: (String, u32, Outcome),
    pub crowded: (String, u32, Outcome),
    pub room: (String, u32, Outcome),
    pub scarce: (String, u32, Outcome),
}

/// The throughput a load with `m` misses per request can reach if a hit costs what a request of
/// the hot tenant does (`1 / h`) and a miss a connect as well (`1 / c`): `crates/tenantry-pool/
/// benches/pool.rs`'s formula.
pub fn churn_ceiling(m: f64, h: f64, c: f64) -> f64 {
    1.0 / ((1.0 - m) / h + m / c)
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**missed**" }
}

/// `503: 12 · 500: 1`, then socket errors if any, or `0`.
fn non_2xx(statuses: &BTreeMap<u16, u64>, o: &Outcome) -> String {
    let mut parts: Vec<String> = statuses.iter().map(|(s, n)| format!("{s}: {n}")).collect();
    for (kind, n) in [
        ("connect", o.run.connect),
        ("read", o.run.read),
        ("write", o.run.write),
    ] {
        if n > 0.0 {
            parts.push(format!("socket {kind}: {n}"));
        }
    }
    if parts.is_empty() {
        "0".into()
    } else {
        parts.join(" · ")
    }
}

pub fn table(r: &Results) -> String {
    let h = r.hot.2.run.rps();
    let (c, connects) = r.connects;
    let scarce = &r.scarce.2;
    let m = scarce.misses();
    let ceiling = churn_ceiling(m, h, c);
    let mut out = String::from(
        "| load | req/s | p50 ms | p99 ms | max ms | non-2xx by status | wrk timeouts | \
         misses/request | opens | peak connections | CPUs busy | server CPU µs/req | target |\n\
         |---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|\n",
    );
    let mut row = |(label, budget, o): &(String, u32, Outcome), target: String| {
        let run = &o.run;
        let _ = writeln!(
            out,
            "| {label}, budget {budget} | {:.0} | {:.2} | {:.2} | {:.0} | {} | {} | {:.4} | {} | \
             {} | {:.0}% | {:.0} | {target} |",
            run.rps(),
            run.p50_us / 1000.0,
            run.p99_us / 1000.0,
            run.max_us / 1000.0,
            non_2xx(&o.statuses, o),
            run.timeout,
            o.misses(),
            o.pools.opens,
            o.peak,
            run.busy * 100.0,
            run.server_cpu_us,
        );
    };
    row(&r.hot, "reference: **H**".into());
    let crowded_ratio = r.crowded.2.run.rps() / h;
    row(
        &r.crowded,
        format!(
            "{crowded_ratio:.2} × H ≥ {CROWDED_RATIO} — {}",
            verdict(crowded_ratio >= CROWDED_RATIO)
        ),
    );
    let room = &r.room.2;
    let room_ratio = room.run.rps() / h;
    let room_p99 = room.run.p99_us / 1000.0;
    row(
        &r.room,
        format!(
            "{room_ratio:.2} × H ≥ {ROOM_RATIO} — {}; p99 ≤ {ROOM_P99_MS:.0} ms — {}",
            verdict(room_ratio >= ROOM_RATIO),
            verdict(room_p99 <= ROOM_P99_MS),
        ),
    );
    let scarce_ratio = scarce.run.rps() / ceiling;
    let budget = i64::from(r.scarce.1);
    let share = scarce.share(503);
    let untyped = scarce.untyped();
    let scarce_p99 = scarce.run.p99_us / 1000.0;
    row(
        &r.scarce,
        format!(
            "{scarce_ratio:.2} × ceiling {ceiling:.0} ≥ {SCARCE_RATIO} — {}; peak {} ≤ {budget} — \
             {}; 503s {:.2}% < {:.0}% (other non-2xx / socket errors: {untyped}) — {}; \
             timeouts {} = 0 — {}; p99 ≤ {SCARCE_P99_MS:.0} ms — {}",
            verdict(scarce_ratio >= SCARCE_RATIO),
            scarce.peak,
            verdict(scarce.peak <= budget),
            share * 100.0,
            SCARCE_SHARE_503 * 100.0,
            verdict(share < SCARCE_SHARE_503 && untyped == 0),
            scarce.run.timeout,
            verdict(scarce.run.timeout == 0.0),
            verdict(scarce_p99 <= SCARCE_P99_MS),
        ),
    );
    let _ = writeln!(
        out,
        "\nH = {h:.0} req/s (hot); C = {c:.0} connects/s ({connects} sequential connects as the \
         hot tenant's role in {:.0} s); scarce: m = {m:.4} misses/request → churn ceiling \
         1 / ((1 − m)/H + m/C) = {ceiling:.0} req/s.",
        r.connect_secs
    );
    let _ = writeln!(out, "\n`TenantPools` over each measured window:\n");
    for (label, _, o) in [&r.hot, &r.crowded, &r.room, &r.scarce] {
        let p = &o.pools;
        let _ = writeln!(
            out,
            "- {label}: {} hits, {} opens ({} taking another tenant's idle connection), {} \
             waits, {} refused after `acquire_timeout`, {} evictions, {} failed opens, {} fast \
             failures.",
            p.hits,
            p.opens,
            p.steals,
            p.waits,
            p.timeouts,
            p.evictions,
            p.open_failures,
            p.fast_failures
        );
    }
    out
}

pub fn section(r: &Results, table: &str) -> String {
    let m = &r.machine;
    let durability_note = if m.durable {
        String::new()
    } else {
        "\n**Warning: durability was off on this server; these figures are not representative.**\n"
            .to_owned()
    };
    format!(
        "{SECTION}\n\n\
         Run {date} · {cpus} CPUs ({cpu}), shared by the server, PostgreSQL and wrk · release \
         build (`cargo bench`) · PostgreSQL {pg} ({durability}) · {workers} actix workers · \
         {n} tenants · `wrk -t2 -c32 --timeout {WRK_TIMEOUT}` on 127.0.0.1, {warmup} s warm-up \
         then {duration} s measured per load · `scripts/bench churn{flags}`\n\
         {durability_note}\n\
         Method: the real `Application` (default settings but the connection budget, one actix \
         worker per CPU) over a fresh master on the server under test, with {n} tenants created \
         by `Provisioner::create`, each its own database and SCRAM role (plan `{PLAN}`: 5 \
         connections), the plans' request quota lifted so that only connections limit the load. \
         wrk sends `GET /api/v1/ledgers?limit=1` with each tenant's `Host: \
         <subdomain>.localhost` and a token of its seeded admin; a Lua `request` function draws \
         the tenant from Zipf(s = {ZIPF_S}) over the tenants by rank (a precomputed CDF, \
         binary-searched; each wrk thread seeded with its id). Each load has a fresh \
         `Application`, so its pools start cold, then {warmup} s of warm-up (not measured) and \
         {duration} s measured: **hot** is the first tenant alone; **crowded hot** the same \
         after 40 other tenants were served one request each (their idle connections fill its \
         budget of 40, so it must take theirs to reach its plan's 5); **room for all** and \
         **scarce** Zipf over all tenants. Latencies are wrk's (closed loop, 32 connections); \
         \"non-2xx\" counts answers of status 300 or more by status (503 = a typed \
         `database_busy`, refused after `acquire_timeout`); \"wrk timeouts\" are requests wrk \
         stopped waiting for after {WRK_TIMEOUT} (reported, not fatal). \"misses/request\" is \
         `TenantPools`' connection opens in the measured window per request in it; \"peak\" is \
         the most sessions of the tenants' roles in `pg_stat_activity` at once, sampled every 10 \
         ms through the whole load, warm-up included (the master and the sampler connect as \
         another role). **C** is sequential connects as the hot tenant's role, as the pool \
         opens them (its URL, `application_name`, `statement_timeout`), each followed by \
         `SELECT 1` and close, in the same run; the scarce target is against the churn ceiling \
         of `scripts/bench pool` with m = the scarce load's misses/request. \"CPUs busy\" is \
         the whole machine; \"server CPU\" is this process's CPU time per request (the server, \
         its pools and the sampler).\n\n\
         {table}",
        date = chrono::Utc::now().format("%Y-%m-%d"),
        cpus = m.cpus,
        cpu = m.cpu_model,
        pg = m.pg_version,
        durability = m.durability,
        workers = r.workers,
        n = r.tenants,
        warmup = r.warmup,
        duration = r.duration,
        flags = r.flags,
    )
}

pub fn self_check() {
    assert!((churn_ceiling(0.0, 1000.0, 100.0) - 1000.0).abs() < 1e-9);
    assert!((churn_ceiling(1.0, 1000.0, 100.0) - 100.0).abs() < 1e-9);
    // A miss in ten at H = 1000, C = 100: 1 / (0.9/1000 + 0.1/100) = 1 / 0.0019.
    assert!((churn_ceiling(0.1, 1000.0, 100.0) - 1.0 / 0.0019).abs() < 1e-6);
    assert_eq!(verdict(true), "met");

    // wrk's output as the script prints it, and what a row reads from it.
    let run = crate::wrk::parse_wrk(
        "Running 15s test\nTENANTRY_WRK {\"requests\":1000,\"duration_us\":2000000,\"connect\":0,\
         \"read\":2,\"write\":0,\"status\":6,\"timeout\":1,\"p50_us\":1500.0,\
         \"p99_us\":9000.5,\"max_us\":2100000.0}\nTENANTRY_WRK_STATUS {\"503\":5}\n",
    )
    .unwrap();
    assert_eq!(run.rps(), 500.0);
    let o = Outcome {
        run,
        statuses: BTreeMap::from([(500, 1), (503, 5)]),
        pools: crate::load::PoolWindow {
            opens: 100,
            ..Default::default()
        },
        peak: 40,
    };
    assert_eq!(o.misses(), 0.1);
    assert_eq!(o.share(503), 0.005);
    assert_eq!(o.untyped(), 3);
    assert_eq!(non_2xx(&o.statuses, &o), "500: 1 · 503: 5 · socket read: 2");

    // The section: heading, run line, method, the table with a verdict per target.
    let load = |label: &str, budget: u32| {
        let o = Outcome {
            run: o.run.clone(),
            statuses: o.statuses.clone(),
            ..o
        };
        (label.to_owned(), budget, o)
    };
    let r = Results {
        machine: Machine {
            cpus: 2,
            cpu_model: "CPU".into(),
            pg_version: "15".into(),
            durability: "fsync on".into(),
            durable: false,
        },
        workers: 2,
        tenants: 300,
        warmup: 5,
        duration: 8,
        flags: " --duration 8".into(),
        connects: (200.0, 400),
        connect_secs: 2.0,
        hot: load("hot", 80),
        crowded: load("crowded", 40),
        room: load("room", 250),
        scarce: load("scarce", 40),
    };
    let table = table(&r);
    assert!(table.contains("| room, budget 250 | 500 |"), "{table}");
    assert!(
        table.contains("1.00 × H ≥ 0.6 — met; p99 ≤ 100 ms — met"),
        "{table}"
    );
    assert!(
        table.contains(
            "peak 40 ≤ 40 — met; 503s 0.50% < 1% (other non-2xx / socket errors: 3) — **missed**"
        ),
        "{table}"
    );
    assert!(table.contains("timeouts 1 = 0 — **missed**"), "{table}");
    let section = section(&r, &table);
    assert!(
        section.starts_with(&format!("{SECTION}\n\nRun ")),
        "{section}"
    );
    assert!(section.contains("`scripts/bench churn --duration 8`") && section.contains("Method: "));
    assert!(section.contains("durability was off") && section.ends_with(&table));
}
