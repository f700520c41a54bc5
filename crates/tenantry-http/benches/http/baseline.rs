//! The baselines: the same handler on one fixed pool, and leasing from `TenantPools` by id.

use std::net::{Ipv4Addr, TcpListener};
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::header::{AUTHORIZATION, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpMessage as _, HttpRequest, HttpResponse, HttpServer, web};
use anyhow::Result;
use hmac::{Hmac, KeyInit as _, Mac as _};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, EntityTrait, QueryOrder, SqlxPostgresConnector,
};
use secrecy::ExposeSecret as _;
use serde::Serialize;
use sha2::Sha256;
use tenantry_app::LedgerType;
use tenantry_app::entity::ledger;
use tenantry_core::TenantId;
use tenantry_core::vault::Vault;
use tenantry_http::auth::Claims;
use tenantry_http::pagination::{Page, PageQuery, Paginated};
use tenantry_http::{ApiError, REQUEST_ID_HEADER, TenantRootSpan};
use tenantry_pool::{PoolError, TargetResolver, TenantPools, TenantTarget};
use tracing_actix_web::{RequestId, TracingLogger};
use uuid::Uuid;

/// Copied from `auth.rs` (private there): the label the token key is derived with.
const TOKEN_KEY_LABEL: &[u8] = b"tenantry/tenant-api/jwt/v1";

/// What the baseline's handler reaches: one pool to the hot tenant's database and the key its
/// tokens are checked with.
pub(crate) struct FixedPool {
    pub(crate) db: DatabaseConnection,
    /// Tenantry's connection model without the routing: `TenantPools` for the hot tenant alone,
    /// leased by its id (no Host lookup, no tenant middleware, no extractors).
    pub(crate) pools: TenantPools,
    pub(crate) tenant: Uuid,
    pub(crate) decoding: DecodingKey,
}

/// Resolves every tenant id to the hot tenant's database (the by-id server's only tenant).
pub(crate) struct HotTarget(pub(crate) TenantTarget);

#[async_trait::async_trait]
impl TargetResolver for HotTarget {
    async fn resolve(&self, _: TenantId) -> Result<TenantTarget, PoolError> {
        Ok(self.0.clone())
    }
}

impl FixedPool {
    /// `auth.rs`'s token check: bearer token, HS256, `exp` and `sub` required, the tenant named.
    pub(crate) fn authenticate(&self, req: &HttpRequest) -> Result<i64, ApiError> {
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
pub(crate) fn token_key(vault: &Vault) -> DecodingKey {
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
pub(crate) enum Variant {
    /// The shared pool, with the application's middleware.
    Pool,
    /// The shared pool, no middleware.
    Bare,
    /// `TenantPools` leased by tenant id per request, with the application's middleware.
    ById,
}

/// A baseline server on 127.0.0.1, with the request-span and request-id middleware the real
/// application has (or, for scale, with none).
pub(crate) fn fixed_pool_server(
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
pub(crate) fn fixed_pool(options: PgConnectOptions, max_connections: u32) -> DatabaseConnection {
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
