//! `pgbench` running the very statement the server ran, the ceiling a routed read is measured
//! against (issue #19: a hot routed read ≥ 0.5 × pgbench with the same SQL and connection
//! count). The statement is read back from `pg_stat_activity` after the server has served the
//! request, so the comparison follows whatever SQL the handler builds; its parameters are the
//! page's `LIMIT` and `OFFSET`, and any other parameter fails the run rather than being guessed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context as _, Result, bail, ensure};
use sea_orm::sqlx::{Connection as _, PgConnection};

/// One pgbench run.
#[derive(Debug, Clone, Copy)]
pub struct PgbenchRun {
    /// Transactions (here: statements) per second, without the initial connection time.
    pub tps: f64,
    pub latency_ms: f64,
}

/// `pgbench` on PATH (it comes with PostgreSQL's client package, which `scripts/with-pg`
/// installs).
pub fn find_pgbench() -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("pgbench"))
        .find(|p| p.is_file())
        .context("pgbench is not on PATH (install PostgreSQL's client package)")
}

/// The last statement an `application_name` session ran on `database` that reads `table`:
/// what the server sent for the request just served.
pub async fn captured_statement(
    admin_url: &str,
    database: &str,
    application_name: &str,
    table: &str,
) -> Result<String> {
    let mut admin = PgConnection::connect(admin_url).await?;
    let found: Option<String> = sea_orm::sqlx::query_scalar(
        "SELECT query FROM pg_stat_activity \
         WHERE datname = $1 AND application_name = $2 AND query ILIKE '%' || $3 || '%' \
         ORDER BY state_change DESC LIMIT 1",
    )
    .bind(database)
    .bind(application_name)
    .bind(format!("FROM \"{table}\""))
    .fetch_optional(&mut admin)
    .await?;
    admin.close().await.ok();
    found.with_context(|| {
        format!("no session of {application_name:?} on {database:?} has read {table:?}")
    })
}

/// A pgbench script running `statement` with its `$n` parameters bound to the page's limit and
/// offset (`\set` variables, so `-M prepared` prepares it once per connection as sqlx does).
pub fn script(statement: &str, limit: u64, offset: u64) -> Result<String> {
    let mut sets = String::new();
    let mut body = String::new();
    let mut rest = statement.trim().trim_end_matches(';');
    while let Some(at) = rest.find('$') {
        let (before, after) = rest.split_at(at);
        body.push_str(before);
        let digits = after[1..].bytes().take_while(u8::is_ascii_digit).count();
        ensure!(digits > 0, "a bare '$' in the statement: {statement}");
        let n = &after[1..=digits];
        let keyword = before.trim_end().rsplit(char::is_whitespace).next();
        let value = match keyword.map(str::to_ascii_uppercase).as_deref() {
            Some("LIMIT") => limit,
            Some("OFFSET") => offset,
            _ => bail!("parameter ${n} is neither a LIMIT nor an OFFSET: {statement}"),
        };
        let _ = writeln!(sets, "\\set p{n} {value}");
        let _ = write!(body, ":p{n}");
        rest = &after[1 + digits..];
    }
    body.push_str(rest);
    ensure!(
        !body.contains('\n'),
        "pgbench takes a statement on one line: {statement}"
    );
    Ok(format!("{sets}{body};\n"))
}

/// Runs pgbench with `script` against `database` on the server of `admin_url` (as its
/// superuser: the tenant role's connection limit is the plan's, below pgbench's clients).
pub async fn run(
    pgbench: &Path,
    admin_url: &str,
    database: &str,
    script: &Path,
    clients: usize,
    threads: usize,
    secs: u64,
) -> Result<PgbenchRun> {
    let url = url::Url::parse(admin_url).context("TENANTRY_TEST_PG_URL")?;
    let output = tokio::process::Command::new(pgbench)
        .args(["-n", "-M", "prepared", "-f"])
        .arg(script)
        .args(["-c", &clients.to_string(), "-j", &threads.to_string()])
        .args(["-T", &secs.to_string()])
        .args(["-h", url.host_str().unwrap_or("127.0.0.1")])
        .args(["-p", &url.port().unwrap_or(5432).to_string()])
        .args(["-U", url.username()])
        .arg(database)
        .env("PGPASSWORD", url.password().unwrap_or_default())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .context("running pgbench")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success(),
        "pgbench failed ({}): {}{}",
        output.status,
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    parse(&stdout)
}

/// tps and latency from pgbench's summary, refusing a run with failed transactions.
pub fn parse(stdout: &str) -> Result<PgbenchRun> {
    let field = |prefix: &str| -> Result<f64> {
        stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .and_then(|v| v.trim_start_matches([' ', '=']).split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("no {prefix:?} in pgbench's output:\n{stdout}"))
    };
    if let Ok(failed) = field("number of failed transactions:") {
        ensure!(failed == 0.0, "pgbench had failed transactions:\n{stdout}");
    }
    Ok(PgbenchRun {
        tps: field("tps")?,
        latency_ms: field("latency average")?,
    })
}

/// Checks [`script`] and [`parse`] (run without `--bench`).
pub fn self_check() {
    let sql = r#"SELECT "ledgers"."id", (SELECT COUNT(*) FROM (SELECT "ledgers"."id" FROM "ledgers") AS "counted") AS "tenantry_total" FROM "ledgers" ORDER BY "ledgers"."code" ASC LIMIT $1 OFFSET $2"#;
    let out = script(sql, 1, 0).expect("a limit and an offset");
    assert!(out.starts_with("\\set p1 1\n\\set p2 0\n"), "{out}");
    assert!(out.ends_with("LIMIT :p1 OFFSET :p2;\n"), "{out}");
    assert!(script("SELECT * FROM t WHERE id = $1", 1, 0).is_err());
    let run = parse(
        "number of failed transactions: 0 (0.000%)\nlatency average = 1.868 ms\n\
         tps = 17125.123456 (without initial connection time)\n",
    )
    .expect("a summary");
    assert_eq!((run.tps, run.latency_ms), (17125.123456, 1.868));
    assert!(
        parse("number of failed transactions: 3 (1%)\ntps = 1\nlatency average = 1 ms").is_err()
    );
}
