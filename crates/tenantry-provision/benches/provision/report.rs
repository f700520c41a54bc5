//! The results table (ratios, targets), the method text and the section of docs/benchmarks.md.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result};
use tenantry_provision::Step;

use crate::args::DEFAULT_WARMUP;
use crate::rounds::MasterRoundTrips;
use crate::{FLEET_CONCURRENCY, FLEET_TENANTS, Results, ms};

const SECTION: &str = "## Provisioning (scripts/bench provision)";
/// DESIGN §4 targets.
const PG_TARGET_RATIO: f64 = 1.5;
/// Issue 19: a creation that claims a warm spare, against the same baseline.
const SPARE_TARGET_RATIO: f64 = 0.25;
const SQLITE_TARGET_MS: f64 = 10.0;
const FLEET_TARGET_MS: f64 = 1000.0;

/// Median and 90th percentile (nearest rank) in milliseconds.
#[derive(Debug, Clone, Copy)]
struct Stats {
    median: f64,
    p90: f64,
}

fn stats(samples: &[Duration]) -> Stats {
    stats_ms(samples.iter().copied().map(ms).collect())
}

fn stats_ms(mut v: Vec<f64>) -> Stats {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    assert!(n > 0, "no samples");
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    let rank = (0.9 * n as f64).ceil() as usize;
    Stats {
        median,
        p90: v[rank.clamp(1, n) - 1],
    }
}

fn step_samples(steps: &[&[(Step, Duration)]], step: Step) -> Vec<Duration> {
    steps
        .iter()
        .map(|t| {
            t.iter()
                .find(|(s, _)| *s == step)
                .map_or(Duration::ZERO, |(_, d)| *d)
        })
        .collect()
}

/// What a row is compared with.
#[derive(Clone, Copy)]
enum Versus<'a> {
    Nothing,
    /// Ratio of medians.
    Baseline(&'a [Duration]),
    /// Ratio of medians, and the median of the per-round ratios (same round, same conditions).
    Paired(&'a [Duration]),
}

fn row(out: &mut String, what: &str, samples: &[Duration], versus: Versus<'_>, target: &str) {
    let s = stats(samples);
    let (ratio, paired) = match versus {
        Versus::Nothing => (String::new(), String::new()),
        Versus::Baseline(base) => (
            format!("{:.2}×", s.median / stats(base).median),
            String::new(),
        ),
        Versus::Paired(base) => {
            let mut ratios: Vec<f64> = samples
                .iter()
                .zip(base)
                .map(|(x, b)| x.as_secs_f64() / b.as_secs_f64())
                .collect();
            ratios.sort_by(f64::total_cmp);
            let n = ratios.len();
            let median = if n % 2 == 1 {
                ratios[n / 2]
            } else {
                (ratios[n / 2 - 1] + ratios[n / 2]) / 2.0
            };
            (
                format!("{:.2}×", s.median / stats(base).median),
                format!("{median:.2}×"),
            )
        }
    };
    let _ = writeln!(
        out,
        "| {what} | {:.1} | {:.1} | {ratio} | {paired} | {target} |",
        s.median, s.p90
    );
}

/// Per-step rows, and what `create` spent outside its steps.
fn step_rows(out: &mut String, totals: &[Duration], steps: &[&[(Step, Duration)]], versus: Versus) {
    let mut outside = totals.to_vec();
    for step in Step::ALL {
        let samples = step_samples(steps, step);
        for (rest, d) in outside.iter_mut().zip(&samples) {
            *rest = rest.saturating_sub(*d);
        }
        row(
            out,
            &format!("&nbsp;&nbsp;step `{step}`"),
            &samples,
            versus,
            "",
        );
    }
    row(
        out,
        "&nbsp;&nbsp;outside the steps (operation-row updates between steps)",
        &outside,
        versus,
        "",
    );
}

/// The unit costs of the master's bookkeeping, for reading the step figures.
fn master_rows(out: &mut String, trips: &MasterRoundTrips, versus: Versus) {
    row(
        out,
        "&nbsp;&nbsp;for scale: one master read (`plan`)",
        &trips.read,
        versus,
        "",
    );
    row(
        out,
        "&nbsp;&nbsp;for scale: one master write (an `UPDATE`, one commit)",
        &trips.write,
        versus,
        "",
    );
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "**missed**" }
}

/// The figures as a markdown table.
pub(crate) fn report(r: &Results) -> String {
    let s = &r.samples;
    let base = s.of(|t| t.baseline);
    let tenantry = s.of(|t| t.tenantry);
    let sqlite = s.of(|t| t.sqlite);
    let spare = s.of(|t| t.spare);
    let steps: Vec<&[(Step, Duration)]> = s.rounds.iter().map(|t| t.steps.as_slice()).collect();
    let spare_steps: Vec<&[(Step, Duration)]> =
        s.rounds.iter().map(|t| t.spare_steps.as_slice()).collect();
    let sqlite_steps: Vec<&[(Step, Duration)]> =
        s.rounds.iter().map(|t| t.sqlite_steps.as_slice()).collect();
    let ratio = stats(&tenantry).median / stats(&base).median;

    let mut out = String::new();
    out.push_str(
        "| measurement | median ms | p90 ms | × baseline (medians) | × baseline (paired) | target |\n",
    );
    out.push_str("|---|---:|---:|---:|---:|---|\n");
    row(
        &mut out,
        "**baseline**: `CREATE DATABASE` + schema with `psql`",
        &base,
        Versus::Baseline(&base),
        "",
    );
    row(
        &mut out,
        "&nbsp;&nbsp;of which `CREATE DATABASE`",
        &s.of(|t| t.baseline_create),
        Versus::Baseline(&base),
        "",
    );
    row(
        &mut out,
        "&nbsp;&nbsp;of which `psql` (process, connect, schema in autocommit)",
        &s.of(|t| t.baseline - t.baseline_create),
        Versus::Baseline(&base),
        "",
    );
    row(
        &mut out,
        "**Tenantry PostgreSQL tenant** (`Provisioner::create`)",
        &tenantry,
        Versus::Paired(&base),
        &format!(
            "≤ {PG_TARGET_RATIO}× — {}",
            verdict(ratio <= PG_TARGET_RATIO)
        ),
    );
    let extra = stats_ms(
        tenantry
            .iter()
            .zip(&base)
            .map(|(t, b)| ms(*t) - ms(*b))
            .collect(),
    );
    let _ = writeln!(
        out,
        "| &nbsp;&nbsp;Tenantry − baseline, same round (what Tenantry adds) | {:.1} | {:.1} | | | |",
        extra.median, extra.p90
    );
    step_rows(&mut out, &tenantry, &steps, Versus::Baseline(&base));
    master_rows(&mut out, &s.pg_master, Versus::Nothing);
    let spare_ratio = stats(&spare).median / stats(&base).median;
    row(
        &mut out,
        "**Tenantry PostgreSQL tenant from a warm spare** (`Provisioner::create` claiming one)",
        &spare,
        Versus::Paired(&base),
        &format!(
            "≤ {SPARE_TARGET_RATIO}× — {}",
            verdict(spare_ratio <= SPARE_TARGET_RATIO)
        ),
    );
    step_rows(&mut out, &spare, &spare_steps, Versus::Baseline(&base));
    row(
        &mut out,
        "**template** (experiment): `CREATE DATABASE … TEMPLATE` + `ALTER DATABASE … OWNER`",
        &s.of(|t| t.template),
        Versus::Paired(&base),
        "",
    );
    row(
        &mut out,
        "&nbsp;&nbsp;same + connect + `REASSIGN OWNED` (tables owned by the tenant role)",
        &s.of(|t| t.template_reassign),
        Versus::Paired(&base),
        "",
    );
    let sqlite_median = stats(&sqlite).median;
    row(
        &mut out,
        "**SQLite tenant** (`Provisioner::create`, SQLite master)",
        &sqlite,
        Versus::Nothing,
        &format!(
            "≤ {SQLITE_TARGET_MS} ms — {}",
            verdict(sqlite_median <= SQLITE_TARGET_MS)
        ),
    );
    step_rows(&mut out, &sqlite, &sqlite_steps, Versus::Nothing);
    master_rows(&mut out, &s.sqlite_master, Versus::Nothing);
    let f = &r.fleet;
    let fleet_ms = ms(f.list + f.check);
    let _ = writeln!(
        out,
        "| **fleet no-op**: {FLEET_TENANTS} tenants at latest, concurrency {FLEET_CONCURRENCY} \
         (`list_tenants` {:.1} + `migrate_tenants` {:.1}) | {fleet_ms:.1} | | | | \
         < {FLEET_TARGET_MS} ms, 0 connections — {} ({} opened, {} up to date) |",
        ms(f.list),
        ms(f.check),
        verdict(fleet_ms < FLEET_TARGET_MS && f.connections_opened == 0),
        f.connections_opened,
        f.up_to_date,
    );
    let _ = writeln!(
        out,
        "| argon2id hash of the tenant admin's password (default cost; computed once, \
         excluded above) | {:.1} | | | | never weakened |",
        ms(r.hash)
    );
    out
}

pub(crate) fn section(r: &Results, table: &str) -> String {
    let m = &r.machine;
    let durability_note = if m.durable {
        String::new()
    } else {
        "\n**Warning: durability was off on this server; these figures are not representative.**\n"
            .to_owned()
    };
    format!(
        "{SECTION}\n\n\
         Run {date} · {cpus} CPUs ({cpu}) · PostgreSQL {pg} ({durability}) · \
         {n} tenants per measurement after {w} warm-up rounds · `scripts/bench provision --tenants {n}{warmup}`\n\
         {durability_note}\n\
         Method: one throwaway cluster (`scripts/with-pg --durable`), everything on the same \
         server in one run. Each round measures one of each, starting from a `CHECKPOINT` \
         (untimed) and rotating their order, so write-back and other drift hit each alike; \
         \"paired\" is the median of the per-round ratios. **Baseline** = `CREATE DATABASE` on an \
         open admin connection + `psql -X -q -v ON_ERROR_STOP=1 -d <db> -f … -f …` over the \
         files of `migrations-tenant/postgres/` in version order (its own process and connection; \
         each statement autocommits), timed together. **Tenantry** = `Provisioner::create` end to end, \
         its master a fresh database on the same server: reserve (operation + tenant rows) → role \
         (SCRAM verifier) → database (+ `REVOKE CONNECT`) → migrate (connect as the tenant role \
         over SCRAM, refinery, one transaction per migration) → seed → activate (schema version, audit row, \
         status and the operation's end, one commit); each step is recorded in the master, which commits with fsync. Per-step figures \
         come from `Created::timings`. **From a warm spare** = the same call when one spare \
         (built just before by `refill_spares`: created, migrated, seeded with the chart of \
         accounts; then a `CHECKPOINT`, both untimed, as a spare is built ahead of demand) is \
         ready: `reserve` also claims it, in the same transaction; the `role` step renames the \
         spare's role and database to the tenant's and sets its password and limit in one server \
         transaction; `database` has nothing to do (ownership and grants follow the ids); \
         `migrate` is only the tenant's first connection (a spare is claimed only at the latest \
         schema); `seed` writes only the tenant's admin (only a spare with this build's chart is \
         claimed). **Template** = a database kept at the schema (tables owned \
         by a template role), copied with `CREATE DATABASE … TEMPLATE` + `ALTER DATABASE … \
         OWNER`; the provisioner does not use it. **SQLite** = `Provisioner::create` with a \
         SQLite master (WAL, `synchronous = NORMAL`) and no server registered, files on the same \
         disk: the tenant file is a copy of a template kept at the latest schema (built once, \
         before the measured rounds, by the warm-ups), so `migrate` only checks the history; \
         seeding commits with `synchronous = NORMAL` and ends with a `TRUNCATE` checkpoint \
         (WAL and file fsynced) before activation. **Fleet** = registry rows only (no databases), then `list_tenants` + \
         `migrate_tenants`. The argon2id hash is computed once, beforehand, at its default cost.\n\n\
         {table}",
        date = chrono::Utc::now().format("%Y-%m-%d"),
        cpus = m.cpus,
        cpu = m.cpu_model,
        pg = m.pg_version,
        durability = m.durability,
        n = r.tenants,
        w = r.warmup,
        warmup = if r.warmup == DEFAULT_WARMUP {
            String::new()
        } else {
            format!(" --warmup {}", r.warmup)
        },
    )
}

/// Replaces (or appends) this benchmark's section of `doc`, keeping everything else.
pub(crate) fn write_doc(doc: &Path, section: &str) -> Result<()> {
    tenantry_test_utils::bench_doc::write_section(doc, SECTION, section)
        .with_context(|| format!("writing {}", doc.display()))
}

/// What `cargo test` checks: the statistics (panics on a mismatch).
pub(crate) fn self_check() {
    let samples: Vec<Duration> = (1..=10).map(Duration::from_millis).collect();
    let s = stats(&samples);
    assert_eq!((s.median, s.p90), (5.5, 9.0), "median/p90 of 1..=10 ms");
    let s = stats(&samples[..5]);
    assert_eq!((s.median, s.p90), (3.0, 5.0), "median/p90 of 1..=5 ms");
}
