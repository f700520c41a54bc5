//! The admin routes, by resource. Input is parsed here; everything else is the operator
//! service's.

mod accounts;
mod backups;
mod domains;
mod fleet;
mod lifecycle;
mod moves;
mod operators;
mod tenants;

use actix_web::web;
use actix_web::{HttpMessage as _, HttpRequest};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use tenantry_core::TenantRef;
use tenantry_registry::TenantCursor;
use utoipa::OpenApi as _;

use crate::error::{ApiError, FieldError};
use crate::routes::pagination::{Page, PageQuery};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(lifecycle::router)
        .configure(backups::router)
        .configure(moves::router)
        .configure(tenants::router)
        .configure(accounts::router)
        .configure(operators::router)
        .configure(domains::router)
        .configure(fleet::router);
}

/// A body read only to fingerprint the request (`Idempotency-Key`), on routes that take none.
/// Named apart from `web::Bytes` so the document does not list a body for them.
pub(crate) type Unread = web::Bytes;

/// Each route module's part of the admin API document.
pub fn documents() -> [utoipa::openapi::OpenApi; 8] {
    [
        tenants::Api::openapi(),
        lifecycle::Api::openapi(),
        backups::Api::openapi(),
        moves::Api::openapi(),
        domains::Api::openapi(),
        accounts::Api::openapi(),
        operators::Api::openapi(),
        fleet::Api::openapi(),
    ]
}

/// A JSON body, with the same errors as the tenant API's: 415 unless it is sent as JSON, 400 for
/// malformed JSON, 422 naming what does not fit — a body that is not an object (serde would
/// fill a struct from an array of its fields), or text holding U+0000 (PostgreSQL cannot store
/// it).
pub(crate) fn json_body<T: DeserializeOwned>(
    req: &HttpRequest,
    body: &[u8],
) -> Result<T, ApiError> {
    let json = req.mime_type().ok().flatten().is_some_and(|m| {
        m.type_().as_str() == "application"
            && (m.subtype().as_str() == "json" || m.suffix().is_some_and(|s| s.as_str() == "json"))
    });
    if !json {
        return Err(ApiError::UnsupportedMediaType);
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            invalid("body", e)
        } else {
            ApiError::InvalidJson(e.to_string())
        }
    })?;
    let Value::Object(fields) = &value else {
        return Err(invalid("body", "must be a JSON object"));
    };
    let nul: Vec<_> = fields
        .iter()
        .filter(|(_, v)| holds_nul(v))
        .map(|(k, _)| FieldError::new(k.clone(), "must not contain NUL (U+0000)"))
        .collect();
    if !nul.is_empty() {
        return Err(ApiError::Validation(nul));
    }
    serde_json::from_value(value).map_err(|e| invalid("body", e))
}

fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

/// A query parameter holding U+0000 (which no stored text does, and PostgreSQL refuses): 422.
pub(crate) fn no_nul(field: &'static str, value: &Option<String>) -> Result<(), ApiError> {
    match value {
        Some(v) if v.contains('\0') => Err(invalid(field, "must not contain NUL (U+0000)")),
        _ => Ok(()),
    }
}

/// A tenant named in a path: its id, or its subdomain. A name no tenant can have (U+0000) is
/// not looked up.
pub(crate) fn tenant_ref(path: web::Path<String>) -> Result<TenantRef, ApiError> {
    let raw = path.into_inner();
    if raw.contains('\0') {
        return Err(ApiError::NotFound);
    }
    Ok(raw.parse().expect("infallible"))
}

pub(crate) fn invalid(field: &'static str, message: impl ToString) -> ApiError {
    ApiError::Validation(vec![FieldError::new(field, message.to_string())])
}

/// `?page&limit`, validated as on the tenant API.
pub(crate) fn page_of(page: &Option<String>, limit: &Option<String>) -> Result<Page, ApiError> {
    Page::try_from(&PageQuery::new(page.clone(), limit.clone()))
}

pub(crate) fn parse_cursor(raw: &str) -> Result<TenantCursor, ApiError> {
    raw.parse()
        .map_err(|_| invalid("cursor", "not a cursor this API returned"))
}

/// For `PATCH` fields that may be set to `null`: absent → `None`, `null` → `Some(None)`.
pub(crate) fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}
