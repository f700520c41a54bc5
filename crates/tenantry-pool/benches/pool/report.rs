//! The report: the ideal LRU and churn ceiling, the table and targets, and its self-check.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::Duration;

use crate::ZIPF_S;
use crate::drive::Outcome;
use crate::workload::{Rng, Zipf};

/// Misses per measured request of an ideal LRU cache of `capacity` one-connection slots
/// replaying `trace` (warmed by the requests of the warm-up).
pub(crate) fn lru_misses(trace: &[(u32, bool)], capacity: usize) -> f64 {
    let mut cache: VecDeque<u32> = VecDeque::with_capacity(capacity + 1);
    let (mut misses, mut measured) = (0usize, 0usize);
    for &(t, in_window) in trace {
        measured += usize::from(in_window);
        if let Some(pos) = cache.iter().position(|&c| c == t) {
            cache.remove(pos);
        } else {
            misses += usize::from(in_window);
            if cache.len() == capacity {
                cache.pop_front();
            }
        }
        cache.push_back(t);
    }
    misses as f64 / measured.max(1) as f64
}

/// The churn ceiling: a request costs 1/H when its tenant is warm and 1/C when it must connect.
fn churn_ceiling(m: f64, h: f64, c: f64) -> f64 {
    1.0 / ((1.0 - m) / h + m / c)
}

pub(crate) struct Results {
    pub(crate) h: Outcome,
    pub(crate) c: f64,
    pub(crate) room: Outcome,
    pub(crate) room_lru: f64,
    pub(crate) scarce: Outcome,
    pub(crate) scarce_lru: f64,
    pub(crate) cold: (f64, f64),
}

pub(crate) fn chrono_date() -> String {
    let out = std::process::Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    out.unwrap_or_default()
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**missed**" }
}

fn errors(o: &Outcome) -> String {
    if o.error_count() == 0 {
        return "0".into();
    }
    let mut kinds: Vec<_> = o.errors.iter().map(|(k, v)| format!("{v} {k}")).collect();
    if o.untyped_errors > 0 {
        kinds.push(format!("{} untyped", o.untyped_errors));
    }
    kinds.sort();
    kinds.join(", ")
}

pub(crate) fn report(r: &Results) -> String {
    let h = r.h.rps();
    let mut out = String::from(
        "| load | req/s | p50 ms | p99 ms | misses/request | opens (warm-up + window) | sessions | peak connections | errors | target |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---|---|\n",
    );
    let mut row = |name: &str, o: &Outcome, target: String| {
        let _ = writeln!(
            out,
            "| {name} | {:.0} | {:.2} | {:.2} | {:.4} | {} + {} | {} | {} | {} | {target} |",
            o.rps(),
            o.percentile_ms(0.5),
            o.percentile_ms(0.99),
            o.misses(),
            o.warmup_opens,
            o.opens,
            o.sessions,
            o.peak_connections,
            errors(o),
        );
    };
    row("**H**: one hot tenant, 5 connections", &r.h, String::new());
    let room_ratio = r.room.rps() / h;
    row(
        "**room for all**: 300 tenants × 5, budget 250",
        &r.room,
        format!(
            "{room_ratio:.2} × H ≥ 0.6 — {}; m {:.4} vs ideal LRU {:.4}; churn ceiling {:.0}",
            verdict(room_ratio >= 0.6),
            r.room.misses(),
            r.room_lru,
            churn_ceiling(r.room.misses(), h, r.c),
        ),
    );
    let m = r.scarce.misses();
    let ceiling = churn_ceiling(m, h, r.c);
    let scarce_ratio = r.scarce.rps() / ceiling;
    let error_share =
        r.scarce.error_count() as f64 / (r.scarce.requests + r.scarce.error_count()).max(1) as f64;
    let lru_gap = if r.scarce_lru > 0.0 {
        (m - r.scarce_lru).abs() / r.scarce_lru
    } else {
        0.0
    };
    row(
        "**scarce**: 1000 tenants × 1, budget 40",
        &r.scarce,
        format!(
            "peak {} ≤ 40 — {}; errors {:.2}% typed < 1% — {}; {:.0} req/s = {scarce_ratio:.2} × ceiling {ceiling:.0} ≥ 0.7 — {}; m {m:.4} vs ideal LRU {:.4} ({:+.0}%) within 10% — {}",
            r.scarce.peak_connections,
            verdict(r.scarce.peak_connections <= 40),
            error_share * 100.0,
            verdict(error_share < 0.01 && r.scarce.untyped_errors == 0),
            r.scarce.rps(),
            verdict(scarce_ratio >= 0.7),
            r.scarce_lru,
            (m - r.scarce_lru) / r.scarce_lru.max(f64::EPSILON) * 100.0,
            verdict(lru_gap <= 0.10),
        ),
    );
    let (cold, bare) = r.cold;
    let cold_ratio = cold / bare;
    let _ = writeln!(
        out,
        "\nH = {h:.0} req/s; C = {:.0} connections/s (`pgbench -C`). Cold tenant (median of 20 first \
         requests): {cold:.2} ms against {bare:.2} ms for a bare connect + the same query = \
         {cold_ratio:.2}× (≤ 1.5× — {}).",
        r.c,
        verdict(cold_ratio <= 1.5),
    );
    out
}

/// Checks the arithmetic the report relies on (run by `cargo test`).
pub(crate) fn self_check() {
    // An LRU of 2 over a b a c b: a miss, b miss, a hit, c miss (evicts b), b miss (evicts a).
    let trace = [0, 1, 0, 2, 1].map(|t| (t, true));
    assert!((lru_misses(&trace, 2) - 4.0 / 5.0).abs() < 1e-9);
    // Warm-up requests fill the cache but are not counted: only `2` (a miss) and `0` (a hit).
    let warmed = [(0, false), (1, false), (2, true), (0, true)];
    assert!((lru_misses(&warmed, 3) - 1.0 / 2.0).abs() < 1e-9);
    // All warm: the ceiling is H; all cold: it is C.
    assert!((churn_ceiling(0.0, 1000.0, 100.0) - 1000.0).abs() < 1e-9);
    assert!((churn_ceiling(1.0, 1000.0, 100.0) - 100.0).abs() < 1e-9);
    // Zipf: rank 0 is the most likely and every sample is in range.
    let z = Zipf::new(1000, ZIPF_S);
    let mut rng = Rng(1);
    let mut counts = vec![0usize; 1000];
    for _ in 0..20_000 {
        counts[z.sample(rng.next_f64())] += 1;
    }
    assert!(counts[0] > counts[1] && counts[1] > counts[10]);
    let o = Outcome {
        requests: 3,
        elapsed: Duration::from_secs(1),
        latencies_us: vec![3000, 1000, 2000],
        ..Outcome::default()
    };
    assert_eq!(o.percentile_ms(0.5), 2.0);
    assert_eq!(o.rps(), 3.0);
}
