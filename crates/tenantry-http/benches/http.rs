//! `scripts/bench http`: what routing a request to its tenant costs, as a ratio against the same
//! handler on one fixed pool, measured in the same run with the same load generator (DESIGN §4:
//! ≥ 0.9×).
//!
//! One process serves both, on 127.0.0.1 only, with the same number of actix workers:
//!
//! - **Tenantry**: the real [`Application`]: `Host` → tenant directory (cached) → `TenantPools`
//!   lease → `GET /api/v1/ledgers?limit=1` (token check, the page and its count in one statement,
//!   JSON);
//! - **baseline**: an actix-web server whose handler does the same work for the hot tenant only —
//!   the same token check (HS256, the key derived from the master key as `auth.rs` does: the
//!   crate exposes no verifier, so that derivation is copied here and checked against a real
//!   token at start), the same sea-orm queries and JSON — on **one fixed sqlx pool** to that
//!   tenant's database, as the tenant's role, `max_connections` = its plan's, behind the same
//!   request-span and request-id middleware;
//! - for scale: the baseline without any middleware;
//! - optionally N tenants round-robin (one `wrk` Lua request function) against the baseline
//!   driven by the same Lua function.
//!
//! The baseline connects as the hot tenant's role, like Tenantry: that role's `CONNECTION LIMIT`
//! (the plan's maximum) is tripled for the run so that all three pools fit under it.
//!
//! `wrk` drives each in turn for several rounds (the order rotated each round) after a warm-up;
//! any non-2xx answer or socket error fails the run. Needs `TENANTRY_TEST_PG_URL` as set by
//! `scripts/with-pg --durable`, and `wrk` on PATH (`scripts/bench http` installs it). Progress
//! goes to stderr, the table to stdout; `--doc FILE` also writes it into that markdown file.
//! Without `--bench` (under `cargo test --all-targets`) it only checks its report logic.

mod pgbench;
mod wrk;

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Server, ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::http::header::{AUTHORIZATION, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpMessage as _, HttpRequest, HttpResponse, HttpServer, web};
use anyhow::{Context as _, Result, bail, ensure};
use hmac::{Hmac, KeyInit as _, Mac as _};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sea_orm::sqlx::{
    AssertSqlSafe, ConnectOptions as _, Connection as _, Executor as _, PgConnection,
};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, EntityTrait, QueryOrder, SqlxPostgresConnector,
};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Serialize;
use sha2::Sha256;
use tenantry_app::LedgerType;
use tenantry_app::entity::ledger;
use tenantry_core::settings::DatabaseUrl;
use tenantry_core::vault::{KeyRing, Vault, hash_password};
use tenantry_core::{DbServerId, Email, PlanId, ServerName, Settings, Subdomain, TenantId};
use tenantry_http::auth::Claims;
use tenantry_http::pagination::{Page, PageQuery, Paginated};
use tenantry_http::{ApiError, Application, REQUEST_ID_HEADER, TenantRootSpan};
use tenantry_pool::{PoolConfig, PoolError, PoolStats, TargetResolver, TenantPools, TenantTarget};
use tenantry_provision::{CreateTenant, Provisioner};
use tenantry_registry::{Actor, NewServer, NewTenant, Registry, ServerDialect, TenantStatus};
use tenantry_test_utils::TestDb;
use tenantry_test_utils::bench_doc::{Machine, machine};
use tracing_actix_web::{RequestId, TracingLogger};
use uuid::Uuid;
use wrk::{
    WRK_MARKER, WRK_TIMEOUT, WrkRun, check_loopback, done_hook, find_wrk, lua_string, parse_wrk,
};

const SECTION: &str = "## HTTP routing overhead (scripts/bench http)";
/// DESIGN §4 target: Tenantry ≥ 0.9× the fixed-pool baseline.
const TARGET_RATIO: f64 = 0.9;
/// Issue #19: a hot routed read ≥ 0.5 × pgbench running the same statement.
const PGBENCH_TARGET: f64 = 0.5;
const PATH: &str = "/api/v1/ledgers?limit=1";
const SERVER: &str = "bench-pg";
const ADMIN_PASSWORD: &str = "bench-tenant-admin-pw";
/// Copied from `auth.rs` (private there): the label the token key is derived with.
const TOKEN_KEY_LABEL: &[u8] = b"tenantry/tenant-api/jwt/v1";

const USAGE: &str = "usage: http [--threads N] [--connections N] [--duration SECS] \
                     [--rounds N] [--warmup SECS] [--tenants N] [--plan ID] \
                     [--memory-tenants N] [--doc FILE]";

#[derive(Debug, Clone)]
struct Args {
    /// `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it.
    bench: bool,
    threads: usize,
    connections: usize,
    duration: u64,
    rounds: usize,
    warmup: u64,
    /// Tenants of the round-robin figure (the hot tenant is one of them); 0 skips it.
    tenants: usize,
    /// The tenants' plan: its `max_connections` sizes every pool.
    plan: String,
    /// Tenants registered for the memory figure; 0 skips it.
    memory_tenants: usize,
    doc: Option<PathBuf>,
}

impl Default for Args {
    fn default() -> Self {
        Self {
            bench: false,
            threads: 2,
            connections: 32,
            duration: 10,
            rounds: 3,
            warmup: 3,
            tenants: 8,
            plan: "standard".into(),
            memory_tenants: 10_000,
            doc: None,
        }
    }
}

impl Args {
    /// The flags that differ from the defaults, as `scripts/bench http` takes them.
    fn non_default(&self) -> String {
        let d = Args::default();
        let mut out = String::new();
        for (name, value, default) in [
            ("--threads", self.threads as u64, d.threads as u64),
            (
                "--connections",
                self.connections as u64,
                d.connections as u64,
            ),
            ("--duration", self.duration, d.duration),
            ("--rounds", self.rounds as u64, d.rounds as u64),
            ("--warmup", self.warmup, d.warmup),
            ("--tenants", self.tenants as u64, d.tenants as u64),
            (
                "--memory-tenants",
                self.memory_tenants as u64,
                d.memory_tenants as u64,
            ),
        ] {
            if value != default {
                let _ = write!(out, " {name} {value}");
            }
        }
        if self.plan != d.plan {
            let _ = write!(out, " --plan {}", self.plan);
        }
        out
    }

    fn wrk_flags(&self) -> String {
        format!(
            "-t{} -c{} -d{}s --timeout {WRK_TIMEOUT}",
            self.threads, self.connections, self.duration
        )
    }
}

fn parse_args(raw: impl IntoIterator<Item = String>) -> Result<Args> {
    let mut args = Args::default();
    let mut it = raw.into_iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--bench" => args.bench = true,
            "--threads" => args.threads = value("--threads")?.parse().context("--threads")?,
            "--connections" => {
                args.connections = value("--connections")?.parse().context("--connections")?
            }
            "--duration" => args.duration = value("--duration")?.parse().context("--duration")?,
            "--rounds" => args.rounds = value("--rounds")?.parse().context("--rounds")?,
            "--warmup" => args.warmup = value("--warmup")?.parse().context("--warmup")?,
            "--tenants" => args.tenants = value("--tenants")?.parse().context("--tenants")?,
            "--plan" => args.plan = value("--plan")?,
            "--memory-tenants" => {
                args.memory_tenants = value("--memory-tenants")?
                    .parse()
                    .context("--memory-tenants")?
            }
            "--doc" => args.doc = Some(value("--doc")?.into()),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    ensure!(args.threads >= 1, "--threads must be at least 1");
    ensure!(
        args.connections >= args.threads,
        "--connections must be at least --threads"
    );
    ensure!(args.duration >= 1, "--duration must be at least 1 second");
    ensure!(args.rounds >= 1, "--rounds must be at least 1");
    ensure!(
        args.tenants != 1,
        "--tenants must be 0 (no round-robin figure) or at least 2"
    );
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = match parse_args(std::env::args().skip(1)) {
        // Under `cargo test` (the workspace suite builds all targets): check the report logic
        // only, without a server or wrk, and leave the measuring to `scripts/bench http`.
        Ok(args) if !args.bench => {
            self_check();
            println!("bench http: report logic ok (measure with `scripts/bench http`)");
            Ok(())
        }
        Ok(args) => {
            log_to_stderr();
            run(args).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench http: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `TENANTRY_BENCH_LOG=warn` (an env-filter) logs the servers' events to stderr, to find out
/// why a run failed; off by default, since logging every request would be measured too.
fn log_to_stderr() {
    if let Ok(filter) = std::env::var("TENANTRY_BENCH_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
}

fn progress(message: impl AsRef<str>) {
    eprintln!("bench http: {}", message.as_ref());
}

// ---------------------------------------------------------------------------------------------
// What is measured.

/// One server + request mix driven by wrk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Load {
    Baseline,
    Tenantry,
    Bare,
    ById,
    BaselineRoundRobin,
    TenantryRoundRobin,
}

impl Load {
    fn name(self) -> &'static str {
        match self {
            Load::Baseline => "baseline",
            Load::Tenantry => "tenantry",
            Load::Bare => "bare",
            Load::ById => "by-id",
            Load::BaselineRoundRobin => "baseline-rr",
            Load::TenantryRoundRobin => "tenantry-rr",
        }
    }
}

impl WrkRun {
    fn failed(&self) -> f64 {
        self.status + self.connect + self.read + self.write + self.timeout + self.pool_timeouts
    }

    fn errors(&self) -> Option<String> {
        (self.failed() > 0.0).then(|| {
            format!(
                "{} non-2xx answers, socket errors: connect {}, read {}, write {}, timeout {}; \
                 {} requests refused by TenantPools after waiting acquire_timeout",
                self.status, self.connect, self.read, self.write, self.timeout, self.pool_timeouts
            )
        })
    }
}

const LOG_HINT: &str = " (rerun with TENANTRY_BENCH_LOG=warn to see the servers' errors)";

/// A wrk script sending `GET PATH` with each (Host, token) pair in turn. With one pair the
/// request is static (built once, no Lua call per request); with several, a `request` function
/// rotates through requests built once per thread.
fn lua_script(pairs: &[(String, String)]) -> Result<String> {
    ensure!(!pairs.is_empty(), "no request to send");
    let quoted = lua_string;
    let mut lua = String::from("-- generated by crates/tenantry-http/benches/http.rs\n");
    if let [(host, token)] = pairs {
        let _ = writeln!(lua, "wrk.headers[\"Host\"] = {}", quoted(host)?);
        let _ = writeln!(
            lua,
            "wrk.headers[\"Authorization\"] = \"Bearer \" .. {}",
            quoted(token)?
        );
    } else {
        let hosts: Vec<String> = pairs
            .iter()
            .map(|(h, _)| quoted(h))
            .collect::<Result<_>>()?;
        let tokens: Vec<String> = pairs
            .iter()
            .map(|(_, t)| quoted(t))
            .collect::<Result<_>>()?;
        let _ = writeln!(lua, "local hosts = {{{}}}", hosts.join(", "));
        let _ = writeln!(lua, "local tokens = {{{}}}", tokens.join(", "));
        lua.push_str(
            "local requests = {}\n\
             local next_one = 0\n\
             init = function(args)\n\
             \x20 for i = 1, #hosts do\n\
             \x20   requests[i] = wrk.format(\"GET\", nil, \
             {[\"Host\"] = hosts[i], [\"Authorization\"] = \"Bearer \" .. tokens[i]})\n\
             \x20 end\n\
             end\n\
             request = function()\n\
             \x20 next_one = next_one % #requests + 1\n\
             \x20 return requests[next_one]\n\
             end\n",
        );
    }
    lua.push_str(&done_hook());
    Ok(lua)
}

/// Runs wrk against `port` on 127.0.0.1 (never anywhere else) for `secs`.
async fn run_wrk(wrk: &Path, args: &Args, port: u16, script: &Path, secs: u64) -> Result<WrkRun> {
    let (run, _) = wrk::run_wrk(
        wrk,
        args.threads,
        args.connections,
        port,
        PATH,
        script,
        secs,
    )
    .await?;
    Ok(run)
}

// ---------------------------------------------------------------------------------------------
// The baseline: the same handler on one fixed pool.

/// What the baseline's handler reaches: one pool to the hot tenant's database and the key its
/// tokens are checked with.
struct FixedPool {
    db: DatabaseConnection,
    /// Tenantry's connection model without the routing: `TenantPools` for the hot tenant alone,
    /// leased by its id (no Host lookup, no tenant middleware, no extractors).
    pools: TenantPools,
    tenant: Uuid,
    decoding: DecodingKey,
}

/// Resolves every tenant id to the hot tenant's database (the by-id server's only tenant).
struct HotTarget(TenantTarget);

#[async_trait::async_trait]
impl TargetResolver for HotTarget {
    async fn resolve(&self, _: TenantId) -> Result<TenantTarget, PoolError> {
        Ok(self.0.clone())
    }
}

impl FixedPool {
    /// `auth.rs`'s token check: bearer token, HS256, `exp` and `sub` required, the tenant named.
    fn authenticate(&self, req: &HttpRequest) -> Result<i64, ApiError> {
        let token = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(ApiError::Unauthorized)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        let claims = jsonwebtoken::decode::<Claims>(token.trim(), &self.decoding, &validation)
            .map_err(|_| ApiError::Unauthorized)?
            .claims;
        if claims.tid != self.tenant {
            return Err(ApiError::WrongTenant);
        }
        claims.sub.parse().map_err(|_| ApiError::Unauthorized)
    }
}

/// `auth::TokenKeys::from_vault`'s derivation (HMAC-SHA256 of the current master key).
fn token_key(vault: &Vault) -> DecodingKey {
    let master = vault.key_ring().current().to_base64();
    let mut mac = Hmac::<Sha256>::new_from_slice(master.expose_secret().as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(TOKEN_KEY_LABEL);
    let secret: [u8; 32] = mac.finalize().into_bytes().into();
    DecodingKey::from_secret(&secret)
}

/// `routes/ledgers.rs`'s `LedgerView` and `pagination.rs`'s `Paginated`, field for field.
#[derive(Serialize)]
struct LedgerView {
    id: i64,
    code: String,
    name: String,
    #[serde(rename = "type")]
    ledger_type: LedgerType,
    parent_id: Option<i64>,
}

impl From<ledger::Model> for LedgerView {
    fn from(m: ledger::Model) -> Self {
        Self {
            id: m.id,
            code: m.code,
            name: m.name,
            ledger_type: m.ledger_type,
            parent_id: m.parent_id,
        }
    }
}

/// `routes/ledgers.rs::list`'s select, through the application's own `Page::fetch`.
async fn ledger_page(
    page: Page,
    db: &impl ConnectionTrait,
) -> Result<Paginated<LedgerView>, ApiError> {
    let select = ledger::Entity::find().order_by_asc(ledger::Column::Code);
    let (rows, total) = page.fetch(db, select).await?;
    Ok(Paginated {
        data: rows.into_iter().map(LedgerView::from).collect(),
        page: page.page,
        limit: page.limit,
        total,
    })
}

/// `routes/ledgers.rs::list` on the fixed pool.
async fn fixed_list(
    req: HttpRequest,
    fixed: web::Data<FixedPool>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let _user = fixed.authenticate(&req)?;
    let page = Page::try_from(&*query)?;
    Ok(HttpResponse::Ok().json(ledger_page(page, &fixed.db).await?))
}

/// The same handler, leasing the hot tenant's connection from `TenantPools` by id for the
/// whole request, as `TenantDb` does once the tenant is resolved.
async fn by_id_list(
    req: HttpRequest,
    fixed: web::Data<FixedPool>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let _user = fixed.authenticate(&req)?;
    let db = fixed.pools.acquire(fixed.tenant.into()).await?;
    let page = Page::try_from(&*query)?;
    Ok(HttpResponse::Ok().json(ledger_page(page, &db).await?))
}

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The success path of the crate's request-id middleware (private there): the span's id in a
/// task-local and in the `x-request-id` header, the body boxed.
async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = req
        .extensions()
        .get::<RequestId>()
        .map(ToString::to_string)
        .unwrap_or_else(|| Uuid::new_v4().to_string());
    let header = HeaderValue::from_str(&id).ok();
    REQUEST_ID
        .scope(id, async move {
            let (req, mut res) = next.call(req).await?.map_into_boxed_body().into_parts();
            if let Some(value) = header {
                res.headers_mut().insert(REQUEST_ID_HEADER, value);
            }
            Ok(ServiceResponse::new(req, res))
        })
        .await
}

fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|e, _| ApiError::BadRequest(format!("invalid query string: {e}")).into())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// The shared pool, with the application's middleware.
    Pool,
    /// The shared pool, no middleware.
    Bare,
    /// `TenantPools` leased by tenant id per request, with the application's middleware.
    ById,
}

/// A baseline server on 127.0.0.1, with the request-span and request-id middleware the real
/// application has (or, for scale, with none).
fn fixed_pool_server(
    fixed: web::Data<FixedPool>,
    workers: usize,
    variant: Variant,
) -> Result<(u16, Server)> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let port = listener.local_addr()?.port();
    let server = if variant != Variant::Bare {
        let by_id = variant == Variant::ById;
        HttpServer::new(move || {
            let handler = if by_id {
                web::get().to(by_id_list)
            } else {
                web::get().to(fixed_list)
            };
            App::new()
                .app_data(fixed.clone())
                .app_data(query_config())
                .wrap(from_fn(request_id))
                .wrap(TracingLogger::<TenantRootSpan>::new())
                .service(web::scope("/api/v1").route("/ledgers", handler))
        })
        .workers(workers)
        .listen(listener)?
        .disable_signals()
        .run()
    } else {
        HttpServer::new(move || {
            App::new()
                .app_data(fixed.clone())
                .app_data(query_config())
                .service(web::scope("/api/v1").route("/ledgers", web::get().to(fixed_list)))
        })
        .workers(workers)
        .listen(listener)?
        .disable_signals()
        .run()
    };
    Ok((port, server))
}

/// One sqlx pool to the tenant's database as its own role, as a sea-orm application would set
/// it up (no ping before acquire, no idle timeout, no statement logging), opened lazily so that,
/// as in Tenantry, connections are made by the actix workers that use them.
fn fixed_pool(options: PgConnectOptions, max_connections: u32) -> DatabaseConnection {
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(0)
        .idle_timeout(None)
        .max_lifetime(None)
        .acquire_timeout(Duration::from_secs(2))
        .test_before_acquire(false)
        .connect_lazy_with(options);
    SqlxPostgresConnector::from_sqlx_postgres_pool(pool)
}

// ---------------------------------------------------------------------------------------------
// Setup and the run.

struct Measured {
    /// Runs per load, in round order.
    runs: Vec<(Load, Vec<WrkRun>)>,
    /// Per round, Tenantry ÷ its baseline (same round).
    paired: Vec<f64>,
    paired_rr: Vec<f64>,
    /// pgbench with the statement Tenantry sent, one run per round, and Tenantry ÷ it.
    pgbench: Vec<pgbench::PgbenchRun>,
    paired_pgbench: Vec<f64>,
    statement: String,
    pools: PoolStats,
    opens_during_rounds: u64,
    isolated: Isolated,
    /// Runs with any non-2xx answer or socket error: reported, then the benchmark fails.
    failures: Vec<String>,
}

impl Measured {
    fn of(&self, load: Load) -> Option<&[WrkRun]> {
        self.runs
            .iter()
            .find(|(l, _)| *l == load)
            .map(|(_, r)| r.as_slice())
    }
}

struct Results {
    args: Args,
    machine: Machine,
    workers: usize,
    max_connections: u32,
    measured: Measured,
    memory: Option<Memory>,
}

/// Resident memory with many registered tenants (DESIGN §4: 10,000 tenants, < 150 MB).
struct Memory {
    tenants: usize,
    before_mib: f64,
    after_mib: f64,
}

/// This process's resident set, in MiB (`VmRSS`).
fn rss_mib() -> Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS in /proc/self/status")?;
    Ok(kb / 1024.0)
}

/// Registers `n` active tenants (registry rows, sealed secrets, no databases), then sends one
/// request to each tenant's Host: the application resolves every one of them (its Host →
/// tenant cache then holds them all) and answers 401, as no token is sent. Measures this
/// process's RSS before and after the requests.
async fn registered_tenants_memory(
    registry: &Registry,
    server: Option<DbServerId>,
    app_port: u16,
    n: usize,
    run_id: &str,
) -> Result<Memory> {
    use futures::{StreamExt as _, TryStreamExt as _};
    progress(format!("memory: registering {n} tenants (rows only)"));
    futures::stream::iter(0..n)
        .map(|i| async move {
            let id = TenantId::new();
            let name = format!("m{i}-{run_id}");
            registry
                .reserve_tenant(NewTenant {
                    id,
                    subdomain: Subdomain::parse(&name, &[])?,
                    name: name.clone(),
                    plan: PlanId::parse("standard")?,
                    server,
                    db_name: format!("t_{}", name.replace('-', "_")),
                    db_user: Some(format!("t_{}", name.replace('-', "_"))),
                    db_password: Some(SecretString::from(format!("unused-{name}"))),
                    storage_limit_mb: None,
                })
                .await?;
            registry
                .set_tenant_status(id, TenantStatus::Active, None, seeded(id))
                .await?;
            Ok::<_, anyhow::Error>(())
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;
    let before_mib = rss_mib()?;
    progress(format!("memory: one request to each of the {n} tenants"));
    let client = reqwest::Client::new();
    futures::stream::iter(0..n)
        .map(|i| {
            let client = client.clone();
            async move {
                let host = format!("m{i}-{run_id}.localhost");
                // Registering made 20,000 changes: until the directory has caught up with them
                // it calls itself stale, and an unknown Host is then a 503 to retry.
                let mut tries = 0;
                let res = loop {
                    let res = client
                        .get(format!("http://127.0.0.1:{app_port}{PATH}"))
                        .header("host", &host)
                        .send()
                        .await?;
                    tries += 1;
                    if res.status() != 503 || tries == 300 {
                        break res;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                };
                ensure!(
                    res.status() == 401,
                    "{host}: expected 401 without a token, got {}",
                    res.status()
                );
                Ok(())
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<()>>()
        .await?;
    let after_mib = rss_mib()?;
    progress(format!(
        "memory: RSS {before_mib:.1} MiB before the requests, {after_mib:.1} MiB after"
    ));
    Ok(Memory {
        tenants: n,
        before_mib,
        after_mib,
    })
}

async fn run(args: Args) -> Result<()> {
    let admin_url = std::env::var("TENANTRY_TEST_PG_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .context("TENANTRY_TEST_PG_URL is not set: run `scripts/bench http`")?;
    check_loopback(&admin_url)?;
    let wrk = find_wrk("http")?;
    let machine = machine(&admin_url).await?;
    // actix's default, which `Application` keeps: one worker per CPU.
    let workers = machine.cpus;
    progress(format!(
        "{} CPUs, PostgreSQL {} ({}); {} actix workers per server; wrk {}; {} rounds after {} s \
         warm-up each",
        machine.cpus,
        machine.pg_version,
        machine.durability,
        workers,
        args.wrk_flags(),
        args.rounds,
        args.warmup
    ));
    if !machine.durable {
        progress("WARNING: durability is off on this server; figures are not representative");
    }

    let admin_hash =
        tokio::task::spawn_blocking(|| hash_password(&SecretString::from(ADMIN_PASSWORD)))
            .await?
            .context("hashing the tenant admin password")?;

    // The master: a fresh database on the same server, the server registered for tenants.
    let master = TestDb::postgres().await;
    let vault = Arc::new(Vault::new(KeyRing::from_keys(
        KeyRing::generate_key(),
        vec![],
    )));
    let master_url = DatabaseUrl::parse(master.url()).map_err(anyhow::Error::msg)?;
    let registry = Registry::connect(&master_url, vault.clone()).await?;
    registry.migrate().await?;
    registry
        .add_server(
            NewServer {
                name: ServerName::parse(SERVER)?,
                dialect: ServerDialect::Postgres,
                url: admin_url
                    .rsplit_once('/')
                    .map_or(admin_url.as_str(), |(base, _)| base)
                    .to_owned(),
                admin_password: None,
                capacity: 10_000,
            },
            tenantry_registry::Origin::from(tenantry_registry::Actor::System).entry(
                "server.add",
                None,
                serde_json::json!({}),
            ),
        )
        .await?;
    // The bench measures throughput, not the plan's request quota: lift it before the server
    // starts (its directory reads plan limits when it loads).
    sea_orm::ConnectionTrait::execute_unprepared(
        registry.connection(),
        "UPDATE plans SET requests_per_minute = 1000000000",
    )
    .await?;
    let provisioner = Arc::new(Provisioner::new(registry.clone(), master.dir()));
    let registry = Arc::new(registry);

    let mut settings = Settings::embedded_default();
    settings.server.listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    settings.server.base_domain = "localhost".into();
    settings.data_dir = master.dir().to_owned();
    let plan = registry
        .plan_by_id(&PlanId::parse(&args.plan)?)
        .await
        .with_context(|| format!("plan {:?}", args.plan))?;
    let max_connections = plan.max_connections;
    let needed = args.tenants.max(1) as u64 * u64::from(max_connections);
    ensure!(
        needed <= u64::from(settings.pool.server_connection_budget),
        "{} tenants × {max_connections} connections exceed the server budget of {}: this \
         benchmark measures routing with room for every tenant, not connection churn",
        args.tenants,
        settings.pool.server_connection_budget
    );

    let settle = Duration::from_millis(settings.pool.acquire_timeout_ms + 500);
    let app = Application::build(&settings, registry.clone(), provisioner.clone())?;
    let app_port = app.port();
    let state = app.state();
    let app_handle = app.handle();
    let serving = tokio::spawn(app.run_until_stopped());

    let run_id = Uuid::new_v4().simple().to_string()[..8].to_owned();
    let mut tenants = Vec::new();
    let mut fixed_handles: Vec<ServerHandle> = Vec::new();
    let outcome = async {
        for i in 0..args.tenants.max(1) {
            let subdomain = format!("b{i}-{run_id}");
            progress(format!("provisioning tenant {subdomain}"));
            let created = provisioner
                .create(CreateTenant {
                    subdomain: Subdomain::parse(&subdomain, &[])?,
                    name: format!("{subdomain} Ltd"),
                    plan: plan.id.clone(),
                    admin_email: Email::parse(&format!("admin@{subdomain}.example"))?,
                    admin_password_hash: admin_hash.clone(),
                    server: None,
                    origin: Actor::System.into(),
                })
                .await
                .with_context(|| format!("creating tenant {subdomain}"))?;
            tenants.push(created.tenant);
        }
        // Tenantry, the shared pool and the by-id pools all connect as the hot tenant's role.
        make_room_for_baseline(&admin_url, &tenants[0], 3 * max_connections).await?;
        let measured = measure(
            &admin_url,
            &args,
            &wrk,
            workers,
            max_connections,
            app_port,
            &state,
            &provisioner,
            &tenants,
            &mut fixed_handles,
            settle,
        )
        .await?;
        let memory = match args.memory_tenants {
            0 => None,
            n => {
                let server = tenants[0].server;
                Some(registered_tenants_memory(&registry, server, app_port, n, &run_id).await?)
            }
        };
        Ok::<_, anyhow::Error>((measured, memory))
    }
    .await;

    progress("cleaning up");
    for handle in &fixed_handles {
        handle.stop(false).await;
    }
    app_handle.stop(false).await;
    serving.await.ok();
    for t in &tenants {
        state.pools.invalidate(t.id).await;
    }
    drop(state);
    drop(provisioner);
    drop(registry);
    // A fresh registry: connections opened by the servers' worker runtimes died with them.
    let cleaner = Provisioner::new(Registry::connect(&master_url, vault).await?, master.dir());
    for t in &tenants {
        if let Err(e) = cleaner
            .delete(&t.id.into(), t.subdomain.as_str(), &Actor::System.into())
            .await
        {
            progress(format!("warning: deleting tenant {}: {e}", t.subdomain));
        }
    }
    drop(cleaner);
    drop(master);
    let (measured, memory) = outcome?;

    let results = Results {
        args,
        machine,
        workers,
        max_connections,
        measured,
        memory,
    };
    let table = report(&results);
    println!("{table}");
    if let Some(doc) = &results.args.doc {
        write_doc(doc, &section(&results, &table))?;
        progress(format!("wrote {}", doc.display()));
    }
    let failures = &results.measured.failures;
    ensure!(
        failures.is_empty(),
        "{} run(s) had failed requests{LOG_HINT}:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
    Ok(())
}

/// The baseline connects as the hot tenant's own role too, and PostgreSQL counts every connection
/// of a role against its `CONNECTION LIMIT`, which the provisioner sets to the plan's maximum:
/// without room for every pool, whichever runs second cannot open its last connections.
async fn make_room_for_baseline(
    admin_url: &str,
    tenant: &tenantry_registry::Tenant,
    limit: u32,
) -> Result<()> {
    let role = tenant
        .db_user
        .as_deref()
        .context("the hot tenant has no role")?;
    ensure!(
        role.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
        "unexpected role name {role:?}"
    );
    let mut admin = PgConnection::connect(admin_url).await?;
    admin
        .execute(AssertSqlSafe(format!(
            r#"ALTER ROLE "{role}" CONNECTION LIMIT {limit}"#
        )))
        .await?;
    admin.close().await.ok();
    Ok(())
}

/// Logs every tenant in over HTTP, starts the baselines, checks that all answer the same, then
/// runs the rounds.
#[allow(clippy::too_many_arguments)]
async fn measure(
    admin_url: &str,
    args: &Args,
    wrk: &Path,
    workers: usize,
    max_connections: u32,
    app_port: u16,
    state: &web::Data<tenantry_http::AppState>,
    provisioner: &Provisioner,
    tenants: &[tenantry_registry::Tenant],
    fixed_handles: &mut Vec<ServerHandle>,
    settle: Duration,
) -> Result<Measured> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()?;
    let base = |port: u16| format!("http://{}", SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    let host_of = |t: &tenantry_registry::Tenant| format!("{}.localhost:{app_port}", t.subdomain);

    let mut tokens = Vec::new();
    for t in tenants {
        let res = client
            .post(format!("{}/api/v1/auth/login", base(app_port)))
            .header("host", host_of(t))
            .json(&serde_json::json!({
                "email": format!("admin@{}.example", t.subdomain),
                "password": ADMIN_PASSWORD,
            }))
            .send()
            .await?;
        ensure!(
            res.status() == 200,
            "login on {}: {}",
            t.subdomain,
            res.status()
        );
        let body: serde_json::Value = res.json().await?;
        tokens.push(
            body["token"]
                .as_str()
                .context("no token in the login answer")?
                .to_owned(),
        );
    }

    // The baseline: the hot tenant's database on one fixed pool, its token checked as auth.rs
    // does (the derivation is a copy: check it against the token the application issued).
    let hot = &tenants[0];
    let options = PgConnectOptions::from_str(provisioner.tenant_url(hot).await?.expose_secret())
        .context("the tenant's URL")?
        .application_name("tenantry-bench-baseline")
        .disable_statement_logging();
    let fixed = web::Data::new(FixedPool {
        db: fixed_pool(options.clone(), max_connections),
        pools: TenantPools::new(
            PoolConfig::default(),
            Arc::new(HotTarget(TenantTarget {
                server: hot.server.map(|s| s.as_uuid()),
                url: provisioner.tenant_url(hot).await?,
                max_connections: max_connections as usize,
            })),
        ),
        tenant: hot.id.as_uuid(),
        decoding: token_key(provisioner.registry().vault()),
    });
    let probe = actix_web::test::TestRequest::get()
        .insert_header((AUTHORIZATION, format!("Bearer {}", tokens[0])))
        .to_http_request();
    fixed.authenticate(&probe).map_err(|e| {
        anyhow::anyhow!(
            "the bench's copy of the token key derivation no longer matches auth.rs: {e}"
        )
    })?;
    let mut start = |variant| -> Result<u16> {
        let (port, server) = fixed_pool_server(fixed.clone(), workers, variant)?;
        fixed_handles.push(server.handle());
        tokio::spawn(server);
        Ok(port)
    };
    let baseline_port = start(Variant::Pool)?;
    let bare_port = start(Variant::Bare)?;
    let by_id_port = start(Variant::ById)?;

    // Every server answers every request of its mix with 200 and the same body as Tenantry.
    let get = async |port: u16, host: &str, token: &str| -> Result<String> {
        let res = client
            .get(format!("{}{PATH}", base(port)))
            .header("host", host)
            .bearer_auth(token)
            .send()
            .await?;
        let status = res.status();
        let body = res.text().await?;
        ensure!(
            status == 200,
            "GET {PATH} on port {port} as {host}: {status}: {body}"
        );
        Ok(body)
    };
    let hot_host = host_of(hot);
    let expected = get(app_port, &hot_host, &tokens[0]).await?;
    for port in [baseline_port, bare_port, by_id_port] {
        let body = get(port, &hot_host, &tokens[0]).await?;
        ensure!(
            body == expected,
            "the baseline answers differently from Tenantry:\n{body}\nvs\n{expected}"
        );
    }
    for (t, token) in tenants.iter().zip(&tokens).skip(1) {
        get(app_port, &host_of(t), token).await?;
    }
    progress(format!(
        "all servers answer GET {PATH} alike ({} bytes)",
        expected.len()
    ));

    // wrk scripts: the hot tenant alone; all tenants in turn; the baseline driven by the same
    // rotation (every Host, the hot tenant's token, since the baseline serves only that one).
    let dir = tempfile::tempdir()?;
    let write_script = |name: &str, pairs: &[(String, String)]| -> Result<PathBuf> {
        let path = dir.path().join(format!("{name}.lua"));
        std::fs::write(&path, lua_script(pairs)?)?;
        Ok(path)
    };
    let hot_script = write_script("hot", &[(hot_host.clone(), tokens[0].clone())])?;
    let mut loads = vec![
        (Load::Baseline, baseline_port, hot_script.clone()),
        (Load::Tenantry, app_port, hot_script.clone()),
        (Load::Bare, bare_port, hot_script.clone()),
        (Load::ById, by_id_port, hot_script),
    ];
    if args.tenants >= 2 {
        let all: Vec<(String, String)> = tenants
            .iter()
            .zip(&tokens)
            .map(|(t, token)| (host_of(t), token.clone()))
            .collect();
        let fixed_rr: Vec<(String, String)> = all
            .iter()
            .map(|(host, _)| (host.clone(), tokens[0].clone()))
            .collect();
        loads.push((
            Load::BaselineRoundRobin,
            baseline_port,
            write_script("baseline-rr", &fixed_rr)?,
        ));
        loads.push((
            Load::TenantryRoundRobin,
            app_port,
            write_script("tenantry-rr", &all)?,
        ));
    }

    // One wrk run, then a pause as long as a request may wait for a connection, so that the
    // pools' refusals of requests wrk stopped waiting for are counted with this run.
    let mut failures = Vec::new();
    let mut drive = async |what: String, port: u16, script: &Path, secs: u64| -> Result<WrkRun> {
        let refused = state.pools.stats().timeouts;
        let mut run = run_wrk(wrk, args, port, script, secs).await?;
        tokio::time::sleep(settle).await;
        run.pool_timeouts = (state.pools.stats().timeouts - refused) as f64;
        if let Some(errors) = run.errors() {
            progress(format!("FAILED {what}: {errors}"));
            failures.push(format!("{what}: {errors}"));
        }
        Ok(run)
    };
    if args.warmup > 0 {
        for (load, port, script) in &loads {
            let what = format!("warm-up of {}", load.name());
            let run = drive(what, *port, script, args.warmup).await?;
            progress(format!(
                "warm-up {:<12} {:>8.0} req/s",
                load.name(),
                run.rps()
            ));
        }
    }

    // pgbench, the ceiling: the statement Tenantry sent for the hot tenant, same clients.
    let pgbench_exe = pgbench::find_pgbench()?;
    let statement = pgbench::captured_statement(admin_url, &hot.db_name, "tenantry", "ledgers")
        .await
        .context("reading back the hot read's statement")?;
    let pgbench_script = dir.path().join("hot.sql");
    std::fs::write(&pgbench_script, pgbench::script(&statement, 1, 0)?)?;
    progress(format!("pgbench runs: {statement}"));
    let pgbench_run = async |secs: u64| {
        pgbench::run(
            &pgbench_exe,
            admin_url,
            &hot.db_name,
            &pgbench_script,
            args.connections,
            args.threads,
            secs,
        )
        .await
    };
    if args.warmup > 0 {
        pgbench_run(args.warmup).await?;
    }

    let opens_before = state.pools.stats().opens;
    let mut runs: Vec<(Load, Vec<WrkRun>)> = loads.iter().map(|(l, _, _)| (*l, vec![])).collect();
    let (mut paired, mut paired_rr) = (Vec::new(), Vec::new());
    let (mut pgbench_runs, mut paired_pgbench) = (Vec::new(), Vec::new());
    for round in 0..args.rounds {
        let mut this_round = Vec::new();
        for i in 0..loads.len() {
            let (load, port, script) = &loads[(round + i) % loads.len()];
            let what = format!("round {} of {}", round + 1, load.name());
            let run = drive(what, *port, script, args.duration).await?;
            progress(format!(
                "round {}/{} {:<12} {:>8.0} req/s  p50 {:.2} ms  p99 {:.2} ms  max {:.0} ms",
                round + 1,
                args.rounds,
                load.name(),
                run.rps(),
                run.p50_us / 1000.0,
                run.p99_us / 1000.0,
                run.max_us / 1000.0
            ));
            this_round.push((*load, run));
        }
        let rps = |load: Load| {
            this_round
                .iter()
                .find(|(l, _)| *l == load)
                .map(|(_, r)| r.rps())
        };
        if let (Some(t), Some(b)) = (rps(Load::Tenantry), rps(Load::Baseline)) {
            paired.push(t / b);
        }
        let ceiling = pgbench_run(args.duration).await?;
        progress(format!(
            "round {}/{} {:<12} {:>8.0} tps      latency {:.2} ms",
            round + 1,
            args.rounds,
            "pgbench",
            ceiling.tps,
            ceiling.latency_ms
        ));
        if let Some(t) = rps(Load::Tenantry) {
            paired_pgbench.push(t / ceiling.tps);
        }
        pgbench_runs.push(ceiling);
        if let (Some(t), Some(b)) = (rps(Load::TenantryRoundRobin), rps(Load::BaselineRoundRobin)) {
            paired_rr.push(t / b);
        }
        for (load, run) in this_round {
            if let Some((_, all)) = runs.iter_mut().find(|(l, _)| *l == load) {
                all.push(run);
            }
        }
    }
    let pools = state.pools.stats();
    let isolated = isolated_costs(state, &fixed, hot, &hot_host, &tokens[0]).await?;
    Ok(Measured {
        runs,
        paired,
        paired_rr,
        pgbench: pgbench_runs,
        paired_pgbench,
        statement,
        opens_during_rounds: pools.opens - opens_before,
        pools,
        isolated,
        failures,
    })
}

/// What routing costs per request, measured alone on the otherwise idle main runtime.
struct Isolated {
    /// `TenantRouting::resolve` of the hot tenant's Host (a cache hit).
    resolve_us: f64,
    /// `TenantPools::acquire` + drop of the hot tenant's idle slot (no query).
    lease_us: f64,
    /// The token check both sides do, for scale.
    token_us: f64,
}

async fn isolated_costs(
    state: &web::Data<tenantry_http::AppState>,
    fixed: &FixedPool,
    hot: &tenantry_registry::Tenant,
    host: &str,
    token: &str,
) -> Result<Isolated> {
    const N: u32 = 50_000;
    let req = actix_web::test::TestRequest::get()
        .uri(PATH)
        .insert_header((actix_web::http::header::HOST, host))
        .insert_header((AUTHORIZATION, format!("Bearer {token}")))
        .to_http_request();
    let per_call = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(N);
    for _ in 0..1000 {
        state.routing.resolve(&state.directory, &req).await?;
    }
    let started = Instant::now();
    for _ in 0..N {
        std::hint::black_box(state.routing.resolve(&state.directory, &req).await?);
    }
    let resolve_us = per_call(started.elapsed());
    let id = hot.id;
    for _ in 0..1000 {
        drop(state.pools.acquire(id).await?);
    }
    let started = Instant::now();
    for _ in 0..N {
        drop(std::hint::black_box(state.pools.acquire(id).await?));
    }
    let lease_us = per_call(started.elapsed());
    let started = Instant::now();
    for _ in 0..N {
        std::hint::black_box(fixed.authenticate(&req)?);
    }
    let token_us = per_call(started.elapsed());
    Ok(Isolated {
        resolve_us,
        lease_us,
        token_us,
    })
}

// ---------------------------------------------------------------------------------------------
// The report.

fn median(mut v: Vec<f64>) -> f64 {
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

fn report(r: &Results) -> String {
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
    if let Some(mem) = &r.memory {
        let _ = writeln!(
            out,
            "Memory: resolving {} registered tenants (one request to each Host, answered 401 \
             without a token; the Host → tenant cache then holds them all) grew this process's \
             RSS by {:.1} MiB ({:.0} → {:.0} MiB). The process is the whole benchmark — four \
             servers, their pools, the test client and the requests before — so its absolute RSS \
             is not `serve`'s.",
            mem.tenants,
            mem.after_mib - mem.before_mib,
            mem.before_mib,
            mem.after_mib,
        );
    }
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

fn section(r: &Results, table: &str) -> String {
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
fn write_doc(doc: &Path, section: &str) -> Result<()> {
    tenantry_test_utils::bench_doc::write_section(doc, SECTION, section)
        .with_context(|| format!("writing {}", doc.display()))
}

/// What `cargo test` checks: arguments, wrk's output, the scripts and statistics (panics on a
/// mismatch).
fn self_check() {
    pgbench::self_check();
    let args = parse_args(["--bench", "--duration", "5", "--tenants", "0"].map(String::from))
        .expect("valid arguments");
    assert!(args.bench && args.duration == 5 && args.tenants == 0);
    assert_eq!(args.non_default(), " --duration 5 --tenants 0");
    assert!(parse_args(["--tenants", "1"].map(String::from)).is_err());
    assert!(parse_args(["--threads", "4", "--connections", "2"].map(String::from)).is_err());

    let out = format!(
        "Running 10s test\n  2 threads\n{WRK_MARKER}{{\"requests\":50000,\"duration_us\":10000000,\
         \"connect\":0,\"read\":0,\"write\":0,\"status\":0,\"timeout\":0,\"p50_us\":1500.0,\
         \"p99_us\":9000.5,\"max_us\":20000.0}}\n"
    );
    let run = parse_wrk(&out).expect("wrk output parses");
    assert_eq!(run.rps(), 5000.0);
    assert!(run.errors().is_none());
    let bad = parse_wrk(&out.replace("\"status\":0", "\"status\":3")).unwrap();
    assert!(bad.errors().unwrap().starts_with("3 non-2xx"));
    let mut refused = run.clone();
    refused.pool_timeouts = 2.0;
    assert_eq!(refused.failed(), 2.0);
    assert!(parse_wrk("Requests/sec: 1\n").is_err());

    let one = lua_script(&[("a1.localhost:80".into(), "x.y-z_".into())]).unwrap();
    assert!(
        one.contains("wrk.headers[\"Host\"] = \"a1.localhost:80\"") && !one.contains("request =")
    );
    let two = lua_script(&[("a.l:1".into(), "t".into()), ("b.l:1".into(), "u".into())]).unwrap();
    assert!(two.contains("local hosts = {\"a.l:1\", \"b.l:1\"}") && two.contains("request ="));
    assert!(lua_script(&[("a\"; os.exit()".into(), "t".into())]).is_err());

    assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
    assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
    assert!(check_loopback("postgres://postgres@127.0.0.1:5432/postgres").is_ok());
    assert!(check_loopback("postgres://postgres@db.example:5432/postgres").is_err());
}

/// The audit row of a tenant the bench activates directly, without provisioning it.
fn seeded(id: TenantId) -> tenantry_registry::AuditEntry {
    tenantry_registry::Origin::from(Actor::System).entry(
        "tenant.create",
        Some(id),
        serde_json::json!({ "seeded": "bench" }),
    )
}
