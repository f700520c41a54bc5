//! The HTTP server: tenant resolution by Host, status gating, JSON errors, and the reference
//! tenant API (`/api/v1`).
//!
//! [`Application::build`] binds the listener (port 0 in tests) and wires the shared state:
//! the registry, the provisioner, the tenant connection pools and the Host → tenant directory.
//! Handlers reach a tenant database only through the [`tenant::TenantDb`] extractor.

// The admin routes' futures (a restore awaits the operator service, which awaits the
// provisioner) are deep enough that computing their layout in an optimised build passes the
// default query depth.
#![recursion_limit = "256"]

pub mod admin;
pub mod auth;
mod body;
pub mod client_ip;
pub mod directory;
pub mod error;
mod feed;
pub mod host;
pub mod openapi;
pub mod rate_limit;
mod request_id;
mod routes;
pub mod tenant;
pub mod throttle;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::error::JsonPayloadError;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use tenantry_core::Settings;
use tenantry_pool::{PoolConfig, TenantPools};
use tenantry_provision::Provisioner;
use tenantry_registry::Registry;
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder, TracingLogger};

pub use directory::{Freshness, ResolvedTenant, TenantDirectory};
pub use error::ApiError;
pub use request_id::REQUEST_ID_HEADER;
pub use routes::pagination;
pub use tenant::TenantDb;

/// Largest JSON body accepted.
pub const JSON_LIMIT: usize = 64 * 1024;

/// How long in-flight requests may run on after SIGTERM/SIGINT before the server stops.
const SHUTDOWN_TIMEOUT_SECS: u64 = 30;

/// What every handler can reach.
pub struct AppState {
    pub registry: Arc<Registry>,
    pub provisioner: Arc<Provisioner>,
    pub pools: TenantPools,
    pub directory: TenantDirectory,
    pub routing: tenant::TenantRouting,
    /// Deadline for reading a whole request body (`server.request_timeout_ms`).
    pub request_timeout: std::time::Duration,
    pub tokens: auth::TokenKeys,
    pub users: auth::UserStatus,
    /// argon2id for logins and password changes, on a fixed set of threads (shared with the
    /// operator service, for operators' logins).
    pub passwords: Arc<tenantry_core::vault::PasswordChecker>,
    /// The operator service, behind the admin API.
    pub ops: tenantry_ops::Operator,
    pub admin_keys: admin::AdminKeys,
    /// Admin requests waiting on an operation (`Prefer: wait`), bounded.
    pub waits: admin::operation::Waits,
    pub login_throttle: Arc<throttle::LoginThrottle>,
    pub proxies: client_ip::TrustedProxies,
}

/// A bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    /// SIGTERM, registered in `build`: a signal arriving between `build` and the first poll of
    /// the server must stop it gracefully, not kill the process.
    terminate: tokio::signal::unix::Signal,
    /// The registry change feed; stopped with the server.
    feed: tokio::task::JoinHandle<()>,
}

impl Application {
    /// Binds `settings.server.listen` and builds the server. Must be called inside a Tokio
    /// runtime (pool housekeeping is spawned on it).
    pub fn build(
        settings: &Settings,
        registry: Arc<Registry>,
        provisioner: Arc<Provisioner>,
    ) -> std::io::Result<Self> {
        let pools = TenantPools::new(
            PoolConfig::from(&settings.pool),
            Arc::new(tenant::RegistryTargets {
                provisioner: provisioner.clone(),
            }),
        );
        pools.spawn_housekeeping();
        let poll_every = std::time::Duration::from_millis(settings.registry.poll_interval_ms);
        let directory = TenantDirectory::new(
            registry.clone(),
            poll_every,
            std::time::Duration::from_secs(settings.registry.max_stale_secs),
        );
        let routing = tenant::TenantRouting::new(
            &settings.server.base_domain,
            settings.server.tenant_header,
            settings.tenants.reserved_subdomains.clone(),
        );
        let request_timeout = std::time::Duration::from_millis(settings.server.request_timeout_ms);
        let tokens = auth::TokenKeys::from_vault(registry.vault());
        let security = &settings.security;
        let passwords = Arc::new(tenantry_core::vault::PasswordChecker::new(
            security.password_hash_workers,
            security.password_hash_queue,
        )?);
        let ops = tenantry_ops::Operator::new(
            provisioner.clone(),
            passwords.clone(),
            tenantry_ops::JobLimits::default(),
            tenantry_ops::DomainRules::new(&settings.server.base_domain, settings.domains.clone()),
        );
        let admin_keys = admin::AdminKeys::from_vault(registry.vault());
        let login_throttle = Arc::new(throttle::LoginThrottle::new(
            security.login_attempts_per_ip_per_minute,
            security.login_attempts_per_account_per_minute,
        ));
        login_throttle.spawn_pruning();
        let state = web::Data::new(AppState {
            tokens,
            users: auth::UserStatus::default(),
            passwords,
            ops,
            admin_keys,
            waits: admin::operation::Waits::default(),
            login_throttle,
            proxies: client_ip::TrustedProxies::new(settings.server.trusted_proxies.clone()),
            registry,
            provisioner,
            pools,
            directory,
            routing,
            request_timeout,
        });
        let feed = feed::spawn(state.clone().into_inner(), poll_every);
        let listener = TcpListener::bind(settings.server.listen)?;
        let port = listener.local_addr()?.port();
        let data = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(json_config())
                .app_data(web::QueryConfig::default().error_handler(|e, _| {
                    ApiError::BadRequest(format!("invalid query string: {e}")).into()
                }))
                .app_data(
                    web::PathConfig::default().error_handler(|_, _| ApiError::NotFound.into()),
                )
                .wrap(from_fn(request_id::request_id))
                .wrap(TracingLogger::<TenantRootSpan>::new())
                .configure(routes::configure)
                .default_service(web::to(routes::not_found))
        })
        .client_request_timeout(request_timeout)
        .workers(settings.server.workers)
        .listen(listener)?
        .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS)
        .disable_signals()
        .run();
        let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        Ok(Self {
            port,
            server,
            state,
            terminate,
            feed,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// A handle to stop the server gracefully from elsewhere (tests; signals are handled).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM/SIGINT (or [`Self::handle`]'s stop); in-flight requests finish.
    pub async fn run_until_stopped(mut self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let feed = self.feed.abort_handle();
        let mut server = std::pin::pin!(self.server);
        let result = tokio::select! {
            result = &mut server => Some(result),
            _ = self.terminate.recv() => None,
            _ = tokio::signal::ctrl_c() => None,
        };
        let result = match result {
            Some(result) => result,
            None => {
                tracing::info!("shutting down: finishing in-flight requests");
                // The stop command is served by the server future itself: poll both together.
                tokio::join!(handle.stop(true), server).1
            }
        };
        feed.abort();
        // Long operations started over the admin API get the same grace as requests; what is
        // still running after it is finished or rolled back by `reconcile`.
        self.state
            .ops
            .shut_down(std::time::Duration::from_secs(SHUTDOWN_TIMEOUT_SECS))
            .await;
        result
    }
}

fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(JSON_LIMIT)
        .error_handler(|e, _| json_error(e).into())
}

fn json_error(e: JsonPayloadError) -> ApiError {
    match e {
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ApiError::PayloadTooLarge { limit: JSON_LIMIT }
        }
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            ApiError::Validation(vec![error::FieldError {
                field: "body".into(),
                message: e.to_string(),
            }])
        }
        JsonPayloadError::Deserialize(e) => ApiError::InvalidJson(e.to_string()),
        e => ApiError::BadRequest(format!("cannot read the request body: {e}")),
    }
}

/// The default request span plus an empty `tenant` field, filled once the tenant is resolved.
pub struct TenantRootSpan;

impl RootSpanBuilder for TenantRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        tracing_actix_web::root_span!(request, tenant = tracing::field::Empty)
    }

    fn on_request_end<B: MessageBody>(
        span: Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}
