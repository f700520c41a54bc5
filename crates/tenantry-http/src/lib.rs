//! The HTTP server: tenant resolution by Host, status gating, JSON errors, and the reference
//! tenant API (`/api/v1`).
//!
//! [`Application::build`] binds the listener (port 0 in tests) and wires the shared state:
//! the registry, the provisioner, the tenant connection pools and the Host → tenant directory.
//! Handlers reach a tenant database only through the [`tenant::TenantDb`] extractor.

pub mod auth;
pub mod error;
pub mod host;
mod request_id;
mod routes;
pub mod tenant;

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

pub use error::ApiError;
pub use request_id::REQUEST_ID_HEADER;
pub use tenant::{ResolvedTenant, TenantDb, TenantDirectory};

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
    pub tokens: auth::TokenKeys,
    pub users: auth::UserStatus,
}

/// A bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    /// SIGTERM, registered in `build`: a signal arriving between `build` and the first poll of
    /// the server must stop it gracefully, not kill the process.
    terminate: tokio::signal::unix::Signal,
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
        let directory = TenantDirectory::new(
            registry.clone(),
            &settings.server.base_domain,
            settings.server.tenant_header,
            settings.tenants.reserved_subdomains.clone(),
        );
        let tokens = auth::TokenKeys::from_vault(registry.vault());
        let state = web::Data::new(AppState {
            tokens,
            users: auth::UserStatus::default(),
            registry,
            provisioner,
            pools,
            directory,
        });
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
        let mut server = std::pin::pin!(self.server);
        tokio::select! {
            result = &mut server => return result,
            _ = self.terminate.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("shutting down: finishing in-flight requests");
        // The stop command is served by the server future itself: poll both together.
        let (_, result) = tokio::join!(handle.stop(true), server);
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
