//! The admin benchmark's statistics, table and `docs/benchmarks.md` section.

use tenantry_test_utils::bench_doc::Machine;

use super::{LIMIT, SEARCH, SECTION, TARGET_P99_MS};

/// Percentiles of sample times, in ms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Stats {
    /// Nearest-rank percentiles of `ms` (not empty).
    pub fn of(mut ms: Vec<f64>) -> Stats {
        assert!(!ms.is_empty(), "no samples");
        ms.sort_by(f64::total_cmp);
        let rank = |p: f64| ms[((p * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
        Stats {
            p50: rank(0.50),
            p99: rank(0.99),
            max: ms[ms.len() - 1],
        }
    }
}

/// One row of the table.
pub struct Measured {
    pub label: String,
    /// Held to the target (a list page through the API).
    pub target: bool,
    pub samples: usize,
    pub tenantry: Stats,
    pub baseline: Stats,
}

/// What the run was, for the section's heading.
pub struct Run {
    pub machine: Machine,
    pub tenants: usize,
    pub live: usize,
    pub samples: u64,
    pub warmup: u64,
    /// The flags given to `scripts/bench admin`, as typed.
    pub flags: String,
    pub seed_ms: f64,
    /// The 1-minute load average when the measurements started and ended.
    pub load: (f64, f64),
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**missed**" }
}

pub fn table(rows: &[Measured]) -> String {
    let mut out = String::from(
        "| measurement | samples | p50 ms | p99 ms | max ms | baseline p50 ms | baseline p99 ms \
         | × baseline (p50) | × baseline (p99) | target |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for m in rows {
        let (t, b) = (m.tenantry, m.baseline);
        let target = match m.target {
            true => format!(
                "p99 < {TARGET_P99_MS} ms — {}",
                verdict(t.p99 < TARGET_P99_MS)
            ),
            false => String::new(),
        };
        out += &format!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1}× | {:.1}× | {target} |\n",
            m.label,
            m.samples,
            t.p50,
            t.p99,
            t.max,
            b.p50,
            b.p99,
            t.p50 / b.p50,
            t.p99 / b.p99
        );
    }
    let held: Vec<&Measured> = rows.iter().filter(|m| m.target).collect();
    let worst = held
        .iter()
        .max_by(|a, b| a.tenantry.p99.total_cmp(&b.tenantry.p99));
    if let Some(worst) = worst {
        out += &format!(
            "\nTarget (every list page p99 < {TARGET_P99_MS} ms on PostgreSQL): {} — the slowest \
             p99 is {:.2} ms ({}).\n",
            verdict(held.iter().all(|m| m.tenantry.p99 < TARGET_P99_MS)),
            worst.tenantry.p99,
            worst.label,
        );
    }
    out
}

pub fn section(run: &Run, table: &str) -> String {
    let m = &run.machine;
    let warning = match m.durable {
        true => "",
        false => "\n**Warning: durability was off on this server; not representative.**\n",
    };
    format!(
        "{SECTION}\n\n\
         Run {date} · {cpus} CPUs ({cpu}), shared by the server, PostgreSQL and the client · \
         release build (`cargo bench`) · PostgreSQL {pg} ({durability}) · {tenants} tenants \
         ({live} live) · {samples} samples a row after {warmup} unmeasured · load average \
         {load0:.1} → {load1:.1} · `scripts/bench admin{flags}`\n{warning}\n\
         Method: the master is a fresh database holding the fleet — registry rows only, no \
         tenant databases, bulk-inserted with one `INSERT … SELECT FROM UNNEST(…)` \
         ({seed:.0} ms) then `ANALYZE`: one in ten suspended, one in twenty each deleted, failed \
         and provisioning, the rest active; plans free, standard and premium in turn; \
         subdomains `<word>-<n>` and names `<Word> Trading <n>` over seven words (`{SEARCH}` \
         matches about a quarter). **Tenantry** is the real `Application` (default settings, \
         {cpus} actix workers, one per CPU): one keep-alive `reqwest` client on 127.0.0.1 sends one request at a \
         time with an API token (`tnty_…`, role viewer), timed until the whole body is read. A \
         list request checks the token (one master read), counts the matches, reads the page \
         (limit {LIMIT}, ordered by creation time then id) and lists the servers. \
         **Baseline** = one bare query for the same rows over one sqlx connection to the same \
         master: `SELECT * FROM tenants WHERE <the same filters> ORDER BY created_at, id LIMIT \
         {LIMIT} OFFSET <n>` (the walk: `AND (created_at, id) > ($1, $2)` instead of the \
         offset; one tenant: `WHERE id = $1`, or `WHERE subdomain = $1 AND status <> \
         'deleted'`) — no count, no token, no HTTP. Each sample runs both, in alternating \
         order. Every answer is checked against the fleet as inserted (totals, the page's ids \
         in order, every row matching the filters, the baseline reading the same rows, the \
         cursor walk visiting each live tenant exactly once, in order) and a wrong one fails \
         the run. The cursor walk's samples are its pages, walked again from the start once \
         it ends. \"for scale\" rows call `Registry::search_tenants` in process (count + page, \
         no HTTP, no token, no server list).\n\n\
         {table}",
        date = chrono::Utc::now().format("%Y-%m-%d"),
        cpus = m.cpus,
        cpu = m.cpu_model,
        pg = m.pg_version,
        durability = m.durability,
        tenants = run.tenants,
        live = run.live,
        samples = run.samples,
        warmup = run.warmup,
        flags = run.flags,
        seed = run.seed_ms,
        load0 = run.load.0,
        load1 = run.load.1,
    )
}

/// What `cargo test` checks (panics on a mismatch).
pub fn self_check() {
    let s = Stats::of((1..=200).rev().map(f64::from).collect());
    assert_eq!((s.p50, s.p99, s.max), (100.0, 198.0, 200.0));
    assert_eq!(
        Stats::of(vec![7.0]),
        Stats {
            p50: 7.0,
            p99: 7.0,
            max: 7.0
        }
    );
    let row = |p99| Measured {
        label: "x".into(),
        target: true,
        samples: 1,
        tenantry: Stats {
            p50: 2.0,
            p99,
            max: p99,
        },
        baseline: Stats {
            p50: 1.0,
            p99: 1.0,
            max: 1.0,
        },
    };
    assert!(table(&[row(10.0)]).contains("2.0× | 10.0× | p99 < 50 ms — met"));
    assert!(table(&[row(10.0), row(60.0)]).contains("**missed** — the slowest p99 is 60.00"));
}
