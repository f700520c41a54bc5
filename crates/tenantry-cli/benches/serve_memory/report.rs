//! The figures, the table and the section of `docs/benchmarks.md`.

use std::fmt::Write as _;

use tenantry_test_utils::bench_doc::Machine;

use crate::child::Rss;
use crate::fleet::Resolved;

pub const SECTION: &str = "## Serve memory (scripts/bench memory)";
/// DESIGN §4 / issue #19: `serve` with 10,000 registered tenants, each resolved once.
pub const TARGET_BYTES: f64 = 150e6;

/// What one run measured, all in the same `serve` binary.
#[derive(Debug, Clone)]
pub struct Figures {
    pub tenants: usize,
    /// After `/readyz`, nothing registered: the baseline.
    pub idle: Rss,
    /// All tenants registered and applied by the directory.
    pub registered: Rss,
    pub register_secs: f64,
    /// After one request to each tenant.
    pub resolved: Rss,
    pub requests: Resolved,
    /// A fresh `serve` started on the full master.
    pub restart: Option<Restart>,
}

#[derive(Debug, Clone)]
pub struct Restart {
    /// After `/readyz`: the whole index loaded at start.
    pub ready: Rss,
    pub resolved: Rss,
    pub requests: Resolved,
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The share of the target a resident set is.
pub fn of_target(kib: u64) -> f64 {
    kib as f64 * 1024.0 / TARGET_BYTES
}

fn delta(kib: u64, idle: Rss) -> String {
    format!("{:+.1}", mib(kib) - mib(idle.rss_kib))
}

impl Figures {
    /// The largest resident set with all tenants resolved: what the target is about.
    pub fn worst_resolved(&self) -> u64 {
        self.restart.as_ref().map_or(self.resolved.rss_kib, |r| {
            r.resolved.rss_kib.max(self.resolved.rss_kib)
        })
    }

    pub fn met(&self) -> bool {
        of_target(self.worst_resolved()) < 1.0
    }

    /// The growth per tenant from idle to all resolved, in KiB.
    pub fn per_tenant_kib(&self) -> f64 {
        (self.resolved.rss_kib as f64 - self.idle.rss_kib as f64) / self.tenants as f64
    }
}

pub fn table(f: &Figures) -> String {
    let n = f.tenants;
    let idle = f.idle;
    let mut out = String::from(
        "| `tenantry serve` | RSS (MiB) | vs idle (MiB) | ÷ 150 MB target |\n|---|---:|---:|---:|\n",
    );
    let mut row = |label: String, kib: u64| {
        let _ = writeln!(
            out,
            "| {label} | {:.1} | {} | {:.2} |",
            mib(kib),
            delta(kib, idle),
            of_target(kib)
        );
    };
    row(
        "idle after `/readyz`, 0 tenants (**baseline**)".into(),
        idle.rss_kib,
    );
    row(
        format!("{n} tenants registered, directory caught up"),
        f.registered.rss_kib,
    );
    row(
        format!("each of the {n} resolved once (401)"),
        f.resolved.rss_kib,
    );
    row(
        "peak (VmHWM) over all of the above".into(),
        f.resolved.hwm_kib,
    );
    if let Some(r) = &f.restart {
        row(
            format!("restarted with {n} registered: idle after `/readyz`"),
            r.ready.rss_kib,
        );
        row(
            format!("restarted: each of the {n} resolved once"),
            r.resolved.rss_kib,
        );
        row("restarted: peak (VmHWM)".into(), r.resolved.hwm_kib);
    }
    let worst = f.worst_resolved();
    let _ = writeln!(
        out,
        "\nPer tenant (registered and resolved − idle) ÷ {n}: **{:.1} KiB**. With every tenant \
         resolved: **{:.1} MiB = {:.2} × the 150 MB target — {}**.",
        f.per_tenant_kib(),
        mib(worst),
        of_target(worst),
        if f.met() { "met" } else { "missed" },
    );
    let _ = writeln!(
        out,
        "\nRegistering took {:.0} s; the requests {:.1} s ({} answers 503 retried while the \
         directory caught up){}.",
        f.register_secs,
        f.requests.secs,
        f.requests.retried_503,
        f.restart.as_ref().map_or(String::new(), |r| format!(
            "; after the restart {:.1} s ({} retried)",
            r.requests.secs, r.requests.retried_503
        )),
    );
    out
}

pub fn section(f: &Figures, m: &Machine, flags: &str, table: &str) -> String {
    let durability_note = if m.durable {
        String::new()
    } else {
        "\n**Warning: durability was off on this server; these figures are not representative.**\n"
            .to_owned()
    };
    format!(
        "{SECTION}\n\n\
         Run {date} · {cpus} CPUs ({cpu}) · release build of `tenantry` · PostgreSQL {pg} \
         ({durability}) · `scripts/bench memory{flags}`\n\
         {durability_note}\n\
         What it measures: the resident memory of a **separate `tenantry serve` process** — the \
         release binary, started as a child with a settings file (default settings except \
         `listen` on 127.0.0.1, a fresh PostgreSQL master on the server under test, and storage \
         checks off because the tenants have no databases) — read from `/proc/<pid>/status` \
         (`VmRSS`, peak `VmHWM`), 2 s after each step. The baseline is the same process idle \
         after `/readyz` with 0 tenants. Then {n} active tenants are registered as registry \
         rows only (reservation + activation, 16 at a time) while it serves, so its directory \
         applies {changes} changes from the change feed; then every tenant's Host gets one \
         `GET /api/v1/ledgers?limit=1` without a token (32 in flight), which resolves the tenant \
         and is answered 401 (a 503 while the directory catches up is retried). Last, a fresh \
         `serve` on the same master (the whole index loaded at start; its reconcile at start \
         reports every tenant's database missing, as they are rows only) is measured the same \
         way. No tenant connection is opened: this is the cost of knowing and routing {n} \
         tenants, not of their pools.\n\n\
         {table}",
        date = chrono::Utc::now().format("%Y-%m-%d"),
        cpus = m.cpus,
        cpu = m.cpu_model,
        pg = m.pg_version,
        durability = m.durability,
        n = f.tenants,
        changes = 2 * f.tenants,
    )
}

pub fn self_check() {
    let rss = |rss_kib, hwm_kib| Rss { rss_kib, hwm_kib };
    let requests = Resolved {
        retried_503: 3,
        secs: 4.5,
    };
    let mut f = Figures {
        tenants: 10_000,
        idle: rss(20_480, 20_480),
        registered: rss(40_960, 45_000),
        register_secs: 61.0,
        resolved: rss(51_200, 60_000),
        requests,
        restart: None,
    };
    assert_eq!(f.per_tenant_kib(), 3.072);
    assert!(f.met());
    let t = table(&f);
    assert!(t.contains("| 50.0 | +30.0 | 0.35 |"), "{t}");
    assert!(
        t.contains("**3.1 KiB**") && t.contains("0.35 × the 150 MB target — met"),
        "{t}"
    );
    f.restart = Some(Restart {
        ready: rss(100_000, 100_000),
        resolved: rss(150_000, 160_100),
        requests,
    });
    assert_eq!(f.worst_resolved(), 150_000);
    // 150,000 KiB = 153.6 MB: over the target.
    assert!(!f.met() && of_target(150_000) > 1.0);
    let t = table(&f);
    assert!(t.contains("restarted: peak (VmHWM) | 156.3"), "{t}");
}
