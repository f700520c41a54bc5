//! `Idempotency-Key` on admin POST and DELETE: a retry with the same key and the same request
//! gets the first answer again (`Idempotent-Replayed: true`) without the work being done twice;
//! the same key with another request is 422; a retry while the first is still being answered is
//! 409 with `Retry-After`. Keys live in the master for 24 hours, per caller.
//!
//! Only successful answers are kept: a failed request did nothing, so its retry runs again. A
//! kept answer never holds a secret shown once (a one-time password, a new token): those fields
//! are replaced before it is stored.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::Value;
use tenantry_ops::Caller;
use tenantry_registry::IdempotencyClaim;

use crate::AppState;
use crate::error::ApiError;

pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
const KEPT_FOR: Duration = Duration::from_secs(24 * 3600);
/// Top-level answer fields shown once and never replayed.
const SHOWN_ONCE: [&str; 2] = ["one_time_password", "secret"];
const WITHHELD: &str = "<shown once>";

/// A handler's successful answer: status and JSON body (none for `204 No Content`).
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Answer {
    pub fn new(status: StatusCode, body: impl serde::Serialize) -> Result<Self, ApiError> {
        Ok(Self {
            status,
            body: serde_json::to_value(body).map_err(ApiError::internal)?,
        })
    }

    /// `204`, with no body.
    pub fn no_content() -> Result<Self, ApiError> {
        Ok(Self {
            status: StatusCode::NO_CONTENT,
            body: Value::Null,
        })
    }

    fn respond(&self) -> HttpResponse {
        if self.status == StatusCode::NO_CONTENT {
            return HttpResponse::NoContent().finish();
        }
        HttpResponse::build(self.status).json(&self.body)
    }
}

/// Runs `handler` at most once per (caller, key): see the module documentation. Without the
/// header, it just runs.
pub async fn once(
    req: &HttpRequest,
    state: &AppState,
    caller: &Caller,
    body: &[u8],
    handler: impl AsyncFnOnce() -> Result<Answer, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let Some(key) = req.headers().get(IDEMPOTENCY_KEY) else {
        return Ok(handler().await?.respond());
    };
    let key = key
        .to_str()
        .ok()
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::BadRequest("Idempotency-Key must be 1–255 visible ASCII characters".into())
        })?;
    let scope = caller.origin.actor.to_string();
    let fingerprint = state.admin_keys.fingerprint(&[
        req.method().as_str().as_bytes(),
        req.path().as_bytes(),
        req.query_string().as_bytes(),
        body,
    ]);
    let registry = &state.registry;
    let unavailable = |e| ApiError::from(tenantry_ops::OpsError::from(e));
    match registry
        .claim_idempotency_key(&scope, key, &fingerprint, KEPT_FOR)
        .await
        .map_err(unavailable)?
    {
        IdempotencyClaim::New => {}
        IdempotencyClaim::Replay { status, body } => {
            let status = StatusCode::from_u16(status).map_err(ApiError::internal)?;
            if status == StatusCode::NO_CONTENT {
                return Ok(HttpResponse::NoContent()
                    .insert_header(("idempotent-replayed", "true"))
                    .finish());
            }
            return Ok(HttpResponse::build(status)
                .insert_header(("idempotent-replayed", "true"))
                .content_type("application/json")
                .body(body));
        }
        IdempotencyClaim::InFlight => return Err(ApiError::IdempotencyInFlight),
        IdempotencyClaim::Mismatch => return Err(ApiError::IdempotencyMismatch),
    }
    let answer = match handler().await {
        Ok(answer) => answer,
        Err(e) => {
            if let Err(release) = registry.release_idempotency_key(&scope, key).await {
                tracing::warn!(error = %release, "could not release an idempotency key");
            }
            return Err(e);
        }
    };
    let mut kept = answer.body.clone();
    if let Some(object) = kept.as_object_mut() {
        for field in SHOWN_ONCE {
            if object.get(field).is_some_and(|v| !v.is_null()) {
                object.insert(field.into(), Value::from(WITHHELD));
            }
        }
    }
    if let Err(e) = registry
        .complete_idempotency_key(&scope, key, answer.status.as_u16(), &kept.to_string())
        .await
    {
        // The work is done and its answer goes out; a retry finds the key in flight until the
        // claim's lease lapses (`IN_FLIGHT_LEASE`), then runs again.
        tracing::warn!(error = %e, "could not keep an idempotent answer");
    }
    Ok(answer.respond())
}
