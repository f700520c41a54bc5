//! "A dead tenant database is always a fast 503": one tenant behind a chaos proxy, one reached
//! directly, on the same cluster. Whatever the proxy does to the first (refuse, reset, black
//! hole), its requests answer 503 with `Retry-After` within the pool's deadlines — never 500,
//! never a hang — the direct tenant keeps its pace, and the first is served again shortly after
//! the proxy passes traffic again.

mod common;

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use actix_web::ResponseError;
use common::{TestApp, unique};
use sea_orm::ConnectionTrait;
use tenantry_http::ApiError;
use tenantry_test_utils::chaos::{ChaosProxy, Mode};
use tenantry_test_utils::{Dialect, pg_admin_url};

const QUERY_TIMEOUT: Duration = Duration::from_millis(1000);
/// `pool.acquire_timeout_ms`; the pool's connect timeout is half of it.
const ACQUIRE_TIMEOUT: Duration = Duration::from_millis(1000);
/// The longest a request to a dead tenant may take: one statement's deadline and one connect
/// attempt (a request never waits on both a dead statement and a dead connect more than once),
/// plus slack for a loaded 2-core machine.
const BOUND: Duration = Duration::from_millis(1000 + 500 + 700);
/// The direct tenant's throughput is its best half-second slice of a few: the machine is shared
/// (other builds, other tests), and outside load only ever takes throughput away, so the best
/// slice is the steadiest estimate of what the server gives it.
const SLICE: Duration = Duration::from_millis(500);
const SLICES: u32 = 6;
const DIRECT_CLIENTS: usize = 3;
const PROXIED_CLIENTS: usize = 2;
/// The proxied tenant's clients ask at the same rate with or without the fault, so the direct
/// tenant's throughput is compared under the same offered load (back to back, fast 503s would
/// be a far heavier load than the 200s they replace).
const PROXIED_PACE: Duration = Duration::from_millis(20);

/// One answer, as far as these tests care.
#[derive(Debug)]
struct Outcome {
    status: u16,
    code: String,
    retry_after: Option<String>,
    took: Duration,
    ended: Instant,
}

/// A tenant's API as its seeded admin.
struct Client<'a> {
    app: &'a TestApp,
    host: String,
    token: String,
}

impl Client<'_> {
    /// `GET /api/v1/ledgers`: a token check and a query on the tenant's database. A hang is a
    /// failure in itself, so it is cut (and reported) long after any deadline.
    async fn hit(&self) -> Outcome {
        let started = Instant::now();
        let sent = self
            .app
            .get(&self.host, "/api/v1/ledgers")
            .bearer_auth(&self.token)
            .send();
        let res = tokio::time::timeout(Duration::from_secs(10), sent)
            .await
            .unwrap_or_else(|_| panic!("{}: no answer within 10 s", self.host))
            .unwrap();
        let status = res.status().as_u16();
        let retry_after = res
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let body: serde_json::Value = res.json().await.unwrap_or_default();
        Outcome {
            status,
            code: body["error"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            retry_after,
            took: started.elapsed(),
            ended: Instant::now(),
        }
    }

    /// `clients` concurrent loops of requests for `window`, each starting a request at most
    /// every `pace` (zero: back to back, as fast as the server answers).
    async fn load(&self, clients: usize, pace: Duration, window: Duration) -> Vec<Outcome> {
        let until = Instant::now() + window;
        let loops = (0..clients).map(|_| async move {
            let mut outcomes = Vec::new();
            while Instant::now() < until {
                let next = Instant::now() + pace;
                outcomes.push(self.hit().await);
                tokio::time::sleep_until(next.into()).await;
            }
            outcomes
        });
        futures::future::join_all(loops)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// How long until the tenant answers 200 (again), polled every 50 ms.
    async fn time_to_recover(&self) -> Duration {
        let started = Instant::now();
        while self.hit().await.status != 200 {
            assert!(started.elapsed() < Duration::from_secs(5), "{}", self.host);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        started.elapsed()
    }
}

/// Every answer is a 200 or a fast JSON 503 that says to retry: returns the 503s.
fn assert_fast_503s(label: &str, outcomes: &[Outcome]) -> usize {
    let mut unavailable = 0;
    for o in outcomes {
        assert!(o.took <= BOUND, "{label}: took {:?}: {o:?}", o.took);
        if o.status == 200 {
            continue;
        }
        assert_eq!(o.status, 503, "{label}: {o:?}");
        assert!(
            matches!(o.code.as_str(), "database_unavailable" | "database_busy"),
            "{label}: {o:?}"
        );
        assert!(o.retry_after.is_some(), "{label}: no Retry-After: {o:?}");
        unavailable += 1;
    }
    unavailable
}

/// Answers per [`SLICE`] in the best of the [`SLICES`] slices from `from`.
fn best_rate(outcomes: &[Outcome], from: Instant) -> usize {
    (0..SLICES)
        .map(|k| {
            let start = from + SLICE * k;
            let end = start + SLICE;
            let within = |o: &&Outcome| o.ended >= start && o.ended < end;
            outcomes.iter().filter(within).count()
        })
        .max()
        .unwrap()
}

fn pg_addr() -> SocketAddr {
    let url = url::Url::parse(&pg_admin_url()).unwrap();
    (url.host_str().unwrap(), url.port().unwrap_or(5432))
        .to_socket_addrs()
        .unwrap()
        .next()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_tenant_database_is_a_fast_503_and_its_neighbour_keeps_its_pace() {
    let app = TestApp::spawn_with(Dialect::Postgres, |s| {
        s.pool.query_timeout_ms = QUERY_TIMEOUT.as_millis() as u64;
        s.pool.acquire_timeout_ms = ACQUIRE_TIMEOUT.as_millis() as u64;
    })
    .await;
    // The neighbour's pace is measured, not its plan's request quota.
    common::lift_request_quotas(&app.registry).await;
    let proxy = ChaosProxy::start(pg_addr()).await;
    app.add_pg_server_at("pg-chaos", proxy.addr()).await;
    let client = |tenant: &tenantry_registry::Tenant| Client {
        app: &app,
        host: format!("{}.localhost", tenant.subdomain),
        token: app.token(tenant),
    };
    let direct = client(&app.create_on(&unique("direct"), "pg-test").await);
    let chaos_tenant = app.create_on(&unique("chaos"), "pg-chaos").await;
    let proxied = client(&chaos_tenant);
    direct.time_to_recover().await;
    proxied.time_to_recover().await;
    assert!(
        proxy.connections() > 0,
        "the tenant is reached through the proxy"
    );

    for fault in [Mode::Refuse, Mode::Reset, Mode::Blackhole] {
        let window = SLICE * SLICES;
        let started = Instant::now();
        let (base_direct, base_proxied) = tokio::join!(
            direct.load(DIRECT_CLIENTS, Duration::ZERO, window),
            proxied.load(PROXIED_CLIENTS, PROXIED_PACE, window),
        );
        let base_rate = best_rate(&base_direct, started);
        assert!(
            base_direct.iter().all(|o| o.status == 200),
            "{base_direct:?}"
        );
        assert!(base_proxied.iter().all(|o| o.status == 200));

        // Reset and black hole land a moment into the window, on requests in flight. Refuse
        // spares open sessions (the database answers on them), so it starts the window with the
        // tenant's sessions closed, as after a restart: every request needs a new one.
        let lands_after = if fault == Mode::Refuse {
            proxy.set_mode(fault);
            app.state.pools.invalidate(chaos_tenant.id).await;
            Duration::ZERO
        } else {
            Duration::from_millis(300)
        };
        let started = Instant::now();
        let (faulty_direct, faulty_proxied, ()) = tokio::join!(
            direct.load(DIRECT_CLIENTS, Duration::ZERO, lands_after + window),
            proxied.load(PROXIED_CLIENTS, PROXIED_PACE, lands_after + window),
            async {
                tokio::time::sleep(lands_after).await;
                proxy.set_mode(fault);
            },
        );
        let label = format!("{fault:?}");
        assert!(faulty_direct.iter().all(|o| o.status == 200), "{label}");
        let unavailable = assert_fast_503s(&label, &faulty_proxied);
        assert!(unavailable > 0, "{label}: the fault was not noticed");
        // Only slices after the fault landed count.
        let faulty_rate = best_rate(&faulty_direct, started + lands_after);
        let ratio = faulty_rate as f64 / base_rate as f64;
        let slowest = faulty_proxied.iter().map(|o| o.took).max().unwrap();

        proxy.set_mode(Mode::Pass);
        let recovered = proxied.time_to_recover().await;
        eprintln!(
            "{label}: direct {base_rate} -> {faulty_rate} requests/{SLICE:?} (ratio {ratio:.2}); proxied \
             {} answers, {unavailable} x 503, slowest {slowest:?}; 200 again {recovered:?} after Pass",
            faulty_proxied.len(),
        );
        // Not starved: a neighbour stuck behind the dead database would fall to about 0. The
        // margin is for a loaded 2-core machine, where one window's rate varies by a quarter
        // (0.74 was seen with nothing at fault); speed itself is measured by `scripts/bench`.
        assert!(ratio >= 0.6, "{label}: direct tenant slowed to {ratio:.2}x");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_cut_mid_query_by_a_reset_answer_503_at_once() {
    let app = TestApp::spawn_with(Dialect::Postgres, |s| {
        s.pool.query_timeout_ms = QUERY_TIMEOUT.as_millis() as u64;
    })
    .await;
    let proxy = ChaosProxy::start(pg_addr()).await;
    app.add_pg_server_at("pg-chaos", proxy.addr()).await;
    let tenant = app.create_on(&unique("cut"), "pg-chaos").await;
    let api = Client {
        app: &app,
        host: format!("{}.localhost", tenant.subdomain),
        token: app.token(&tenant),
    };
    // A new tenant may read as provisioning until this instance sees it activated.
    api.time_to_recover().await;

    // A statement through the app's own pool, running when the connection is reset: the error
    // it gets is the one a handler would turn into its answer.
    let conn = app.state.pools.acquire(tenant.id).await.unwrap();
    let sleeping = tokio::spawn(async move { conn.execute_unprepared("SELECT pg_sleep(5)").await });
    // Requests stuck on the silent connection until the reset cuts them.
    proxy.set_mode(Mode::Blackhole);
    let (outcomes, ()) = tokio::join!(
        futures::future::join_all((0..3).map(|_| api.hit())),
        async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            proxy.set_mode(Mode::Reset);
        },
    );
    let err = sleeping.await.unwrap().unwrap_err();
    let api_err = ApiError::from(err);
    assert_eq!(api_err.status_code().as_u16(), 503, "{api_err:?}");
    assert_eq!(api_err.code(), "database_unavailable");

    assert_eq!(assert_fast_503s("reset", &outcomes), outcomes.len());
    for o in &outcomes {
        // Ended by the reset (300 ms in), well before the 1 s deadline would have.
        assert!(o.took < QUERY_TIMEOUT, "{o:?}");
    }
    proxy.set_mode(Mode::Pass);
    eprintln!(
        "reset mid-query: 200 again {:?} after Pass",
        api.time_to_recover().await
    );
}
