//! The results as a markdown table: each figure's median and spread, its ratio to the bare
//! baseline (of the medians and paired per round), and the targets.

use std::fmt::Write as _;

use tenantry_test_utils::bench_doc::median;

use crate::measure::Round;

/// Issue #18: backup throughput ≥ 0.8× bare `pg_dump`, restore time ≤ 1.25× bare `pg_restore`.
const DUMP_TARGET: f64 = 0.8;
const RESTORE_TARGET: f64 = 1.25;

type Of = fn(&Round) -> f64;
/// A row's figure, the baseline it is compared with (`true`: as throughput, baseline time /
/// ours; `false`: as time, ours / baseline), and whether the row carries the target.
type Row = (&'static str, Of, Option<(Of, bool)>, bool);

const DUMP: Option<(Of, bool)> = Some((|r| r.dump, true));
const BARE: Option<(Of, bool)> = Some((|r| r.bare_restore, false));

#[rustfmt::skip]
const ROWS: [Row; 11] = [
    ("**dump baseline**: `pg_dump -Fc -f FILE`", |r| r.dump, None, false),
    ("&nbsp;&nbsp;`pg_dump -Fc --no-sync -f FILE`", |r| r.dump_nosync, DUMP, false),
    ("**Tenantry backup** (`Provisioner::backup`)", |r| r.backup, DUMP, true),
    ("**restore baseline**: `CREATE DATABASE` + bare `pg_restore`", |r| r.bare_restore, None, false),
    ("&nbsp;&nbsp;of which `CREATE DATABASE`", |r| r.create_db, BARE, false),
    ("**Tenantry restore** (`Provisioner::restore`, fence settle 0)", |r| r.restore, BARE, true),
    ("&nbsp;&nbsp;prepare (`prepare_ms`)", |r| r.prepare, BARE, false),
    ("&nbsp;&nbsp;&nbsp;&nbsp;verify (sha256 + AEAD, timed apart)", |r| r.verify, BARE, false),
    ("&nbsp;&nbsp;&nbsp;&nbsp;load: prepare − verify", |r| r.prepare - r.verify, BARE, true),
    ("&nbsp;&nbsp;fence → swap (`switch_ms`)", |r| r.switch, BARE, false),
    ("&nbsp;&nbsp;after the swap (drop of the old database)", |r| r.restore - r.prepare - r.switch, BARE, false),
];

/// The figures as a markdown table.
pub(crate) fn report(rounds: &[Round], settle: f64) -> String {
    let col = |f: Of| median(&rounds.iter().map(f).collect::<Vec<_>>());
    let db = col(|r| r.db_mb);
    let mut out = String::from(
        "| measurement | median s | min–max s | MB/s of database | × baseline (medians) \
         | × baseline (paired) | target |\n|---|---:|---:|---:|---:|---:|---|\n",
    );
    for (what, of, versus, has_target) in ROWS {
        let v: Vec<f64> = rounds.iter().map(of).collect();
        let (lo, hi) = v
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), x| (l.min(*x), h.max(*x)));
        let m = median(&v);
        let (mut ratio, mut paired, mut target) = (String::new(), String::new(), String::new());
        if let Some((base, throughput)) = versus {
            let of_pair = |o: f64, b: f64| if throughput { b / o } else { o / b };
            let x = of_pair(m, col(base));
            let pairs: Vec<f64> = rounds.iter().map(|r| of_pair(of(r), base(r))).collect();
            (ratio, paired) = (format!("{x:.2}×"), format!("{:.2}×", median(&pairs)));
            let (bound, ok) = match throughput {
                true => (format!("≥ {DUMP_TARGET}×"), x >= DUMP_TARGET),
                false => (format!("≤ {RESTORE_TARGET}×"), x <= RESTORE_TARGET),
            };
            if has_target {
                target = format!("{bound} — {}", if ok { "met" } else { "**missed**" });
            }
        }
        let _ = writeln!(
            out,
            "| {what} | {m:.2} | {lo:.2}–{hi:.2} | {:.0} | {ratio} | {paired} | {target} |",
            db / m
        );
    }
    let whole = col(|r| r.restore) + settle;
    let _ = writeln!(
        out,
        "\nBare dump {:.1} MB, archive {:.1} MB. With the production fence settle ({settle} s, a \
         sleep) the whole restore takes {whole:.2} s, {:.2}× the baseline.",
        col(|r| r.dump_mb),
        col(|r| r.archive_mb),
        whole / col(|r| r.bare_restore)
    );
    out
}
