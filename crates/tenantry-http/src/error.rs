//! Error policy: every failure a client can see is one [`ApiError`] variant, rendered by the one
//! [`ResponseError`] impl below as `{"error":{"code","message","request_id"}}`.
//!
//! - Client errors (4xx) say what was wrong with the request; their message is safe to show.
//! - Tenant-availability errors (503) name no internals and carry `Retry-After`.
//! - Internal errors (500) show a fixed message; their cause chain is logged with the request id,
//!   never sent (it may name databases, hosts or SQL).

use std::borrow::Cow;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::json;

tokio::task_local! {
    /// The id of the request being served, set by the request-id middleware around each request
    /// so error bodies can name it without threading the request through every error.
    pub(crate) static REQUEST_ID: String;
}

/// The request id of the current request ("" outside one).
pub(crate) fn current_request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

/// One invalid input field, for 422 answers: `code`, or `lines[2].debit` for a nested one.
#[derive(Debug, Clone, Serialize)]
pub struct FieldError {
    pub field: Cow<'static, str>,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the Host header is not a valid host name: {0}")]
    InvalidHost(&'static str),
    #[error("no tenant is served at this address")]
    TenantNotFound,
    #[error("the tenant is being provisioned; retry shortly")]
    TenantProvisioning,
    #[error("the tenant is suspended")]
    TenantSuspended,
    #[error("the tenant is unavailable")]
    TenantUnavailable,
    #[error("the tenant's database is busy; retry shortly")]
    DatabaseBusy { retry_after: u64 },
    #[error("the tenant's database is unavailable; retry shortly")]
    DatabaseUnavailable { retry_after: u64 },
    #[error("the master registry is unavailable")]
    RegistryUnavailable,
    #[error("the server is busy; retry shortly")]
    Busy { retry_after: u64 },
    #[error("too many attempts; retry later")]
    TooManyRequests { retry_after: u64 },
    #[error("the request was not received in time")]
    RequestTimeout,
    #[error("{0}")]
    BadRequest(String),
    #[error("the request body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("the request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the request is invalid")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    Conflict(String),
    #[error("no such resource")]
    NotFound,
    #[error("a valid bearer token is required")]
    Unauthorized,
    #[error("wrong email or password")]
    InvalidCredentials,
    #[error("the token is not valid for this tenant")]
    WrongTenant,
    #[error("your role does not allow this")]
    Forbidden,
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The tenant's plan does not allow this (e.g. more users than it includes).
    #[error("{0}")]
    PlanLimit(String),
    /// The resource exists, but its state does not allow the action (admin API).
    #[error("{0}")]
    InvalidState(String),
    /// Another operation on the same tenant is running (admin API).
    #[error("{0}")]
    OperationInProgress(String),
    #[error("this Idempotency-Key was used with another request")]
    IdempotencyMismatch,
    #[error("a request with this Idempotency-Key is still being answered; retry shortly")]
    IdempotencyInFlight,
    /// A custom domain's TXT challenge was not found in DNS (admin API); names the record.
    #[error("{0}")]
    DomainUnverified(String),
    /// DNS did not answer a domain verification in time (admin API).
    #[error("{0}")]
    DnsTimeout(String),
    /// DNS answered a domain verification with an error, or could not be asked (admin API).
    #[error("{0}")]
    DnsUnavailable(String),
    /// A backup that cannot be restored: not completed, corrupt, tampered with, or another
    /// engine's (admin API). Nothing was touched.
    #[error("{0}")]
    BackupUnusable(String),
    /// The tenant's database has reached its storage limit: reads go on, writes are refused.
    #[error(
        "the tenant's storage quota is used up: delete data or ask for a higher limit to write \
         again"
    )]
    StorageQuotaExceeded,
    /// The tenant's database is being switched (a restore or a move): retry in a moment.
    #[error("the tenant is briefly unavailable while its database is switched; retry shortly")]
    TenantMaintenance,
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(e))
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidHost(_) => "invalid_host",
            Self::TenantNotFound => "tenant_not_found",
            Self::TenantProvisioning => "tenant_provisioning",
            Self::TenantSuspended => "tenant_suspended",
            Self::TenantUnavailable => "tenant_unavailable",
            Self::DatabaseBusy { .. } => "database_busy",
            Self::DatabaseUnavailable { .. } => "database_unavailable",
            Self::RegistryUnavailable => "registry_unavailable",
            Self::Busy { .. } => "busy",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::RequestTimeout => "request_timeout",
            Self::BadRequest(_) => "bad_request",
            Self::InvalidJson(_) => "invalid_json",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::Validation(_) => "validation_failed",
            Self::Conflict(_) => "conflict",
            Self::NotFound => "not_found",
            Self::Unauthorized => "unauthorized",
            Self::InvalidCredentials => "invalid_credentials",
            Self::WrongTenant => "wrong_tenant",
            Self::Forbidden => "forbidden",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::InvalidState(_) => "invalid_state",
            Self::OperationInProgress(_) => "operation_in_progress",
            Self::IdempotencyMismatch => "idempotency_key_reused",
            Self::PlanLimit(_) => "plan_limit_reached",
            Self::IdempotencyInFlight => "idempotency_key_in_use",
            Self::DomainUnverified(_) => "domain_unverified",
            Self::DnsTimeout(_) => "dns_timeout",
            Self::DnsUnavailable(_) => "dns_unavailable",
            Self::BackupUnusable(_) => "backup_unusable",
            Self::StorageQuotaExceeded => "storage_quota_exceeded",
            Self::TenantMaintenance => "tenant_maintenance",
            Self::Internal(_) => "internal_error",
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            Self::TenantProvisioning => Some(5),
            Self::DatabaseBusy { retry_after } | Self::DatabaseUnavailable { retry_after } => {
                Some((*retry_after).max(1))
            }
            Self::RegistryUnavailable => Some(2),
            Self::TenantMaintenance => Some(1),
            Self::OperationInProgress(_) | Self::IdempotencyInFlight => Some(1),
            Self::DnsTimeout(_) | Self::DnsUnavailable(_) => Some(5),
            Self::Busy { retry_after } | Self::TooManyRequests { retry_after } => {
                Some((*retry_after).max(1))
            }
            _ => None,
        }
    }
}

impl From<tenantry_pool::PoolError> for ApiError {
    fn from(e: tenantry_pool::PoolError) -> Self {
        use tenantry_pool::PoolError;
        let retry_after = e.retry_after_secs();
        match e {
            PoolError::Exhausted { .. } => Self::DatabaseBusy { retry_after },
            PoolError::UnknownTenant(_) => Self::TenantNotFound,
            PoolError::Unavailable { .. } | PoolError::Resolve { .. } => {
                tracing::warn!(error = %e, "tenant database unavailable");
                Self::DatabaseUnavailable { retry_after }
            }
        }
    }
}

/// The operator service's errors, for the admin API: the request's fault says what was wrong;
/// a master that cannot be reached is 503; anything else is internal (logged, not shown).
impl From<tenantry_ops::OpsError> for ApiError {
    fn from(e: tenantry_ops::OpsError) -> Self {
        use tenantry_ops::OpsError;
        match e {
            OpsError::Invalid { field, message } => Self::Validation(vec![FieldError {
                field: field.into(),
                message,
            }]),
            OpsError::NotFound { .. } => Self::NotFound,
            e @ OpsError::Conflict { .. } => Self::Conflict(e.to_string()),
            OpsError::Busy { what } if what.starts_with("tenant ") => Self::OperationInProgress(
                format!("{what} is busy: another operation on it is running"),
            ),
            OpsError::Busy { .. } | OpsError::Stopping => Self::Busy { retry_after: 1 },
            OpsError::InvalidState(message) => Self::InvalidState(message),
            e @ OpsError::Confirmation { .. } => Self::BadRequest(e.to_string()),
            e @ OpsError::DomainUnverified { .. } => Self::DomainUnverified(e.to_string()),
            e @ OpsError::DnsTimeout { .. } => Self::DnsTimeout(e.to_string()),
            e @ OpsError::DnsFailed { .. } => Self::DnsUnavailable(e.to_string()),
            OpsError::BackupUnusable(message) => Self::BackupUnusable(message),
            OpsError::Forbidden(_) => Self::Forbidden,
            OpsError::Failed(cause) if master_unreachable(cause.as_ref()) => {
                tracing::warn!(error = %error_chain(cause.as_ref()), "master registry unavailable");
                Self::RegistryUnavailable
            }
            OpsError::Failed(cause) => Self::Internal(cause),
        }
    }
}

/// Whether a registry failure is the master being unreachable (as opposed to a bug).
fn master_unreachable(e: &(dyn std::error::Error + 'static)) -> bool {
    match e.downcast_ref::<tenantry_registry::RegistryError>() {
        Some(tenantry_registry::RegistryError::Db(db)) => database_unreachable(db),
        _ => false,
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        if database_unreachable(&e) {
            // The tenant's database is gone or not answering: that tenant only, and transient.
            tracing::warn!(error = %e, "tenant database connection failed");
            return Self::DatabaseUnavailable { retry_after: 2 };
        }
        if database_contended(&e) {
            tracing::warn!(error = %e, "tenant database contended");
            return Self::DatabaseBusy { retry_after: 1 };
        }
        Self::internal(e)
    }
}

/// Whether a statement failed because the tenant's database could not be reached or stopped
/// answering (as opposed to refusing the statement): the connection died under it (I/O, TLS,
/// protocol), the pool's deadline passed (`DbErr::Conn`), or the server said so — SQLSTATE
/// class 08 (connection exception), 57P01-57P03 (shutting down, crashed, not accepting
/// connections), 53300 (too many connections), 57014 (its `statement_timeout`, the server's
/// half of the pool's deadline, or a cancel).
fn database_unreachable(e: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr, SqlxError};
    let sqlx = match e {
        DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => return true,
        DbErr::Exec(RuntimeErr::SqlxError(sqlx)) | DbErr::Query(RuntimeErr::SqlxError(sqlx)) => {
            sqlx
        }
        _ => return false,
    };
    match &**sqlx {
        SqlxError::Io(_)
        | SqlxError::Tls(_)
        | SqlxError::Protocol(_)
        | SqlxError::PoolTimedOut
        | SqlxError::PoolClosed
        | SqlxError::WorkerCrashed => true,
        SqlxError::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08")
                || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300" | "57014")
        }),
        _ => false,
    }
}

/// Whether the statement lost a race that a retry wins: PostgreSQL's serialization failure
/// (40001), deadlock (40P01) or a read-only transaction (25006, a server just failed over);
/// SQLite's busy or locked database (primary codes 5 and 6, extended ones included) after its
/// busy timeout.
fn database_contended(e: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr, SqlxError};
    let (DbErr::Exec(RuntimeErr::SqlxError(sqlx)) | DbErr::Query(RuntimeErr::SqlxError(sqlx))) = e
    else {
        return false;
    };
    let SqlxError::Database(db) = &**sqlx else {
        return false;
    };
    db.code().is_some_and(|code| {
        matches!(&*code, "40001" | "40P01" | "25006")
            || (code.len() < 5 && code.parse::<i32>().is_ok_and(|n| matches!(n & 0xff, 5 | 6)))
    })
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidHost(_) | Self::BadRequest(_) | Self::InvalidJson(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::TenantNotFound | Self::NotFound => StatusCode::NOT_FOUND,
            Self::TenantSuspended
            | Self::WrongTenant
            | Self::Forbidden
            | Self::PlanLimit(_)
            | Self::StorageQuotaExceeded => StatusCode::FORBIDDEN,
            Self::Unauthorized | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::TenantProvisioning
            | Self::TenantUnavailable
            | Self::DatabaseBusy { .. }
            | Self::DatabaseUnavailable { .. }
            | Self::RegistryUnavailable
            | Self::DnsUnavailable(_)
            | Self::TenantMaintenance
            | Self::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::DnsTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Validation(_) | Self::IdempotencyMismatch | Self::BackupUnusable(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::Conflict(_)
            | Self::InvalidState(_)
            | Self::OperationInProgress(_)
            | Self::IdempotencyInFlight
            | Self::DomainUnverified(_) => StatusCode::CONFLICT,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let request_id = current_request_id();
        if let Self::Internal(cause) = self {
            tracing::error!(request_id = %request_id, error = %error_chain(cause.as_ref()), "internal error");
        }
        let mut error = json!({
            "code": self.code(),
            "message": self.to_string(),
            "request_id": request_id,
        });
        if let Self::Validation(fields) = self {
            error["fields"] = json!(fields);
        }
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, Self::Unauthorized) {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if let Some(secs) = self.retry_after() {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from(secs)));
        }
        response.json(json!({ "error": error }))
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}
