//! `scripts/bench connect`: sequential and concurrent connects as a tenant role, in three ways
//! measured in the same run (see [`METHOD`]): its SCRAM verifier with our 16 PBKDF2 rounds over
//! TCP; a baseline role with the same password, database and server hashed by PostgreSQL at its
//! default 4096 rounds, over TCP; and the tenant role again over the server's Unix socket, its
//! password still checked (`same_host`).
//!
//! Needs `TENANTRY_TEST_PG_URL` (`scripts/with-pg --durable`) and the server on this host.
//! Everything created is dropped and `pg_hba.conf` put back at the end. Without `--bench` (under
//! `cargo test --all-targets`) it only checks its report logic.

mod report;
mod same_host;
mod sample;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use clap::Parser;
use secrecy::{ExposeSecret as _, SecretString};
use sqlx::{AssertSqlSafe, Connection as _, Executor as _, PgConnection};
use tenantry_core::vault::{KeyRing, Vault, hash_password};
use tenantry_core::{Email, PlanId, ServerName, Subdomain, settings::DatabaseUrl};
use tenantry_provision::{CreateTenant, FinalBackup, Provisioner};
use tenantry_registry::{Actor, NewServer, Origin, Registry, ServerDialect, Tenant};
use tenantry_test_utils::{TestDb, bench_doc};
use url::Url;

use report::Side;
use same_host::ScramOverSocket;
use sample::{CONCURRENCY, Postmaster};

const SECTION: &str = "## Connects as a tenant role (scripts/bench connect)";
const OURS: &str = "SCRAM-SHA-256$16:";
const DEFAULT: &str = "SCRAM-SHA-256$4096:";
/// Each way, in the order of the even rounds (odd rounds run them in reverse).
const WAYS: [&str; 3] = ["16 rounds TCP", "4096 rounds TCP", "16 rounds socket"];
const TCP: usize = 0;
const BASELINE: usize = 1;
const SOCKET: usize = 2;
/// Per way, over two halves.
const CONCURRENT_FOR: Duration = Duration::from_secs(3);

const METHOD: &str = "Method: one throwaway cluster (`scripts/with-pg --durable`), client and \
server on the same machine. One tenant from `Provisioner::create`: its role's verifier is ours \
(16 PBKDF2 rounds). The baseline role is created by the superuser with `LOGIN PASSWORD '<the same \
plaintext>'`, so PostgreSQL hashes it with its default 4096 rounds, and gets `CONNECT` on the same \
database; both verifiers are checked in `pg_authid`, and both roles run without a connection \
limit for the run (the tenant role's is its plan's, which 8 tasks reconnecting at full speed \
would hit). Three ways to connect: the tenant role and the baseline role over TCP on 127.0.0.1 \
(`pg_hba`: `scram-sha-256`), and the tenant role over the server's Unix socket (the same URL with \
`?host=<socket dir>`). `scripts/with-pg` trusts every socket login, so for the run the bench puts \
`local all \"<tenant role>\" scram-sha-256` first in the server's `pg_hba.conf` and reloads (the \
file is put back at the end), then checks that a wrong password over the socket is refused \
(28P01) and that the server sees no client address over the socket and 127.0.0.1 over TCP: every \
way pays a full SCRAM exchange. A connect is exactly the connection manager's: \
`PgConnectOptions::from_str(url)` + `application_name` + `statement_timeout`, `connect()`, then \
`SELECT 1` and `close()` (sqlx asks for TLS first either way, `sslmode=prefer`; this server \
answers no). Sequential: one warm-up round, then rounds of N connects per way, the order reversed \
every other round; connects/s is the median over rounds, a ratio the median of the per-round \
ratios (\"paired\"); p50/p99 are of the `connect()` alone over all samples. CPU per connect: the \
client is this process (`/proc/self/stat`); the server is its postmaster with the children it has \
reaped (`/proc/<postmaster>/stat`, utime + stime + cutime + cstime: every backend that served a \
connect, from fork to exit); the server never runs PBKDF2 at login, it checks the proof against \
the stored keys. Concurrent: 8 tasks connecting in a loop, 1.5 s per way and then 1.5 s more in \
the reverse order. PBKDF2 alone: `pbkdf2_hmac_array::<Sha256, 32>`, median of 200 calls (sqlx \
computes it with its own loop, yielding to the runtime every 5 rounds).";

/// `scripts/bench connect [--rounds N] [--connects N]`.
#[derive(Debug, Parser)]
#[command(bin_name = "connect")]
struct Args {
    /// Set by `cargo bench`; without it only the report logic is checked.
    #[arg(long)]
    bench: bool,
    /// Sequential rounds after the warm-up, the order of the ways reversed every other round.
    #[arg(
        long,
        default_value_t = 5,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..),
    )]
    rounds: usize,
    /// Sequential connects per way each round.
    #[arg(
        long,
        default_value_t = 200,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..),
    )]
    connects: usize,
    /// Markdown file whose section to replace with the results.
    #[arg(long)]
    doc: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if !args.bench {
        report::self_check();
        println!("bench connect: report logic ok (measure with `scripts/bench connect`)");
        return ExitCode::SUCCESS;
    }
    let Err(e) = run(args).await else {
        return ExitCode::SUCCESS;
    };
    eprintln!("bench connect: error: {e:#}");
    ExitCode::FAILURE
}

async fn run(args: Args) -> Result<()> {
    let url = std::env::var("TENANTRY_TEST_PG_URL").context("run `scripts/bench connect`")?;
    let m = bench_doc::machine(&url).await?;
    let (r, n) = (args.rounds, args.connects);
    eprintln!(
        "bench connect: {} CPUs, PostgreSQL {} ({}); {r} rounds × {n} connects",
        m.cpus, m.pg_version, m.durability
    );
    let mut admin = PgConnection::connect(&url).await?;
    let master = TestDb::postgres().await;
    let key = KeyRing::generate_key();
    let vault = Arc::new(Vault::new(KeyRing::from_keys(key, vec![])));
    let master_url = DatabaseUrl::parse(master.url()).map_err(anyhow::Error::msg)?;
    let registry = Registry::connect(&master_url, vault).await?;
    registry.migrate().await?;
    let system = || Origin::from(Actor::System);
    let base = url.rsplit_once('/').map_or(url.as_str(), |(b, _)| b);
    let server = NewServer {
        name: ServerName::parse("bench-pg")?,
        dialect: ServerDialect::Postgres,
        url: base.to_owned(),
        admin_password: None,
        capacity: 10,
    };
    let audit = system().entry("server.add", None, serde_json::json!({}));
    registry.add_server(server, audit).await?;
    let pg = Provisioner::new(registry, master.dir());
    let request = CreateTenant {
        subdomain: Subdomain::parse("bench-connect", &[])?,
        name: "Connect Ltd".into(),
        plan: PlanId::parse("standard")?,
        admin_email: Email::parse("admin@bench-connect.example")?,
        admin_password_hash: hash_password(&SecretString::from("bench-connect-admin"))?,
        server: None,
        origin: system(),
    };
    let tenant = pg.create(request).await?.tenant;
    let baseline = format!("{}_bench4096", tenant.db_user.as_deref().unwrap_or("none"));

    let load_before = sample::load_average();
    let outcome = measure(&args, &mut admin, &pg, &tenant, &baseline).await;
    let load = (load_before, sample::load_average());
    eprintln!("bench connect: load average {:.1} → {:.1}", load.0, load.1);
    eprintln!("bench connect: cleaning up");
    let (id, confirm) = (tenant.id.into(), tenant.subdomain.as_str());
    let skip = FinalBackup::Skip;
    let deleted = pg.delete_with(&id, confirm, skip, &system()).await;
    // After the database, so that its `CONNECT` grant is gone with it.
    let drop = format!(r#"DROP ROLE IF EXISTS "{baseline}""#);
    let dropped = admin.execute(AssertSqlSafe(drop)).await;
    let sides = outcome?;
    deleted?;
    dropped.context("dropping the baseline role")?;

    let scram = report::scram_table(&sides[TCP], &sides[BASELINE]);
    let socket = report::socket_table(&sides[SOCKET], &sides[TCP], &sides[BASELINE]);
    println!("{scram}\n{socket}");
    let Some(doc) = &args.doc else { return Ok(()) };
    let section = format!(
        "{SECTION}\n\nRun {date} · {cpus} CPUs ({cpu}) · PostgreSQL {pg} ({durability}) · {r} \
         rounds × {n} sequential connects per way after 1 warm-up round · \
         load average {:.1} → {:.1} · `scripts/bench connect --rounds {r} --connects {n}`\n\n\
         {METHOD}\n\n### SCRAM rounds: 16 against 4096, both over TCP on 127.0.0.1\n\n{scram}\n\
         ### Unix socket against TCP on 127.0.0.1: the tenant role (16 rounds), SCRAM checked on \
         both\n\n{socket}",
        load.0,
        load.1,
        date = chrono::Utc::now().format("%Y-%m-%d"),
        cpus = m.cpus,
        cpu = m.cpu_model,
        pg = m.pg_version,
        durability = m.durability,
    );
    bench_doc::write_section(doc, SECTION, &section)?;
    eprintln!("bench connect: wrote {}", doc.display());
    Ok(())
}

/// Sets up the baseline role and the socket rule, measures the three ways (indexed as
/// [`WAYS`]) and puts `pg_hba.conf` back.
async fn measure(
    args: &Args,
    admin: &mut PgConnection,
    pg: &Provisioner,
    tenant: &Tenant,
    baseline: &str,
) -> Result<[Side; 3]> {
    let ours = Url::parse(pg.tenant_url(tenant).await?.expose_secret())?;
    let role = ours.username().to_owned();
    ensure!(
        tenant.db_user.as_deref() == Some(&role),
        "not the tenant role's URL"
    );
    let password = percent_encoding::percent_decode_str(ours.password().unwrap_or_default())
        .decode_utf8()?
        .into_owned();
    let theirs = baseline_role(admin, &ours, &password, &tenant.db_name, baseline).await?;
    let server = same_host::postmaster(admin).await?;
    if server.is_none() {
        eprintln!("bench connect: cannot read the postmaster's pid: no server CPU");
    }
    let socket = ScramOverSocket::require(admin, &role).await?;
    let over_socket = socket.url(&ours);
    let measured = async {
        socket.check(&ours, &over_socket).await?;
        let urls = [
            ours.to_string(),
            theirs.to_string(),
            over_socket.to_string(),
        ];
        measure_ways(args, &urls, server.as_ref(), &password).await
    };
    let measured = measured.await;
    let restored = socket.restore(admin).await;
    let sides = measured?;
    restored.context("putting pg_hba.conf back")?;
    Ok(sides)
}

/// Creates the baseline role (the same password hashed by PostgreSQL) and returns its URL,
/// after checking both roles' verifiers.
async fn baseline_role(
    admin: &mut PgConnection,
    ours: &Url,
    password: &str,
    db: &str,
    baseline: &str,
) -> Result<Url> {
    let role = ours.username();
    let literal = password.replace('\'', "''");
    let mut theirs = ours.clone();
    let no_host = |()| anyhow::anyhow!("the tenant URL has no host");
    theirs.set_username(baseline).map_err(no_host)?;
    // Not the statement as context: it holds the password.
    let setup = format!(
        r#"SET password_encryption = 'scram-sha-256';
           CREATE ROLE "{baseline}" LOGIN PASSWORD '{literal}';
           GRANT CONNECT ON DATABASE "{db}" TO "{baseline}";
           ALTER ROLE "{role}" CONNECTION LIMIT -1"#
    );
    let created = admin.execute(AssertSqlSafe(setup)).await;
    created.context("creating the baseline role")?;
    for (name, prefix) in [(role, OURS), (baseline, DEFAULT)] {
        let verifier: String =
            sqlx::query_scalar("SELECT rolpassword FROM pg_authid WHERE rolname = $1")
                .bind(name)
                .fetch_one(&mut *admin)
                .await?;
        ensure!(
            verifier.starts_with(prefix),
            "role {name}: verifier {:?}…, expected {prefix}…",
            verifier.get(..20).unwrap_or(&verifier)
        );
    }
    Ok(theirs)
}

/// Sequential rounds over `urls` (one per way), then the concurrent runs and PBKDF2 alone.
async fn measure_ways(
    args: &Args,
    urls: &[String; 3],
    server: Option<&Postmaster>,
    password: &str,
) -> Result<[Side; 3]> {
    let mut sides: [Side; 3] = Default::default();
    for round in 0..=args.rounds {
        let mut line = String::new();
        let mut order = [TCP, BASELINE, SOCKET];
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let run = sample::sequential(&urls[i], args.connects, server).await?;
            line.push_str(&format!(" {} {:.0}/s", WAYS[i], run.rate));
            if round > 0 {
                sides[i].add(run);
            }
        }
        let label = match round {
            0 => "warm-up".into(),
            _ => format!("{round}/{}", args.rounds),
        };
        eprintln!("bench connect: {label}:{line}");
    }
    // Concurrent: half the time per way, then the other half in the reverse order.
    let mut totals = [(0, 0.0); 3];
    for i in [TCP, BASELINE, SOCKET, SOCKET, BASELINE, TCP] {
        let (n, secs) = sample::concurrent(&urls[i], CONCURRENT_FOR / 2).await?;
        totals[i] = (totals[i].0 + n, totals[i].1 + secs);
        let rate = n as f64 / secs;
        eprintln!(
            "bench connect: {CONCURRENCY} concurrent, {}: {rate:.0}/s",
            WAYS[i]
        );
    }
    for (side, (n, secs)) in sides.iter_mut().zip(totals) {
        side.concurrent = n as f64 / secs;
    }
    sides[TCP].pbkdf2_us = sample::pbkdf2_us(password, 16);
    sides[BASELINE].pbkdf2_us = sample::pbkdf2_us(password, 4096);
    sides[SOCKET].pbkdf2_us = sides[TCP].pbkdf2_us;
    Ok(sides)
}
