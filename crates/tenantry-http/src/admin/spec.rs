//! The admin API's OpenAPI document: each route module's operations (`#[utoipa::path]` on the
//! handlers), the errors every admin route shares, and its security: a bearer token that is an
//! operator's session JWT (`POST /admin/v1/login`) or a script's API token (`tnty_…`).
//! Served at `GET /admin/v1/openapi.json`, Swagger UI at `GET /admin/v1/docs/` (apex host, no
//! token).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, RefOr, Response};
use utoipa::{IntoParams, IntoResponses, Modify, OpenApi};

use super::{auth, routes};
use crate::openapi::{BEARER, SharedComponents, responses};

pub const PREFIX: &str = "/admin/v1";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tenantry admin API",
        description = "The operator's back office: tenants, their lifecycle and custom domains, \
                       database servers, operators, API tokens, operations, the audit log and \
                       fleet figures. Served on the apex host only (elsewhere every path is \
                       404). Authenticate with `Authorization: Bearer <token>`: an operator's \
                       session token from `POST /admin/v1/login`, or an API token (`tnty_…`). \
                       Roles: `owner` (everything), `operator` (tenants and servers), `viewer` \
                       (read only). Long actions answer `202` with an operation to poll (or, \
                       with `Prefer: wait=N`, `200` once it ended); every POST and DELETE \
                       accepts `Idempotency-Key`. Every error is `{\"error\": {code, message, \
                       request_id, fields?}}`.",
    ),
    paths(auth::login),
    modifiers(&SharedComponents, &AdminSecurity),
    tags(
        (name = "auth", description = "Operators' session tokens."),
        (name = "tenants", description = "Tenants: list, show, create, change, lifecycle."),
        (name = "domains", description = "Tenants' custom domains: add, verify by DNS, remove."),
        (name = "operations", description = "Long actions, to poll."),
        (name = "servers", description = "Database servers that hold tenant databases."),
        (name = "admins", description = "Operators of the installation (owners only)."),
        (name = "tokens", description = "API tokens for scripts (owners only)."),
        (name = "fleet", description = "The audit log, fleet statistics and pools."),
    )
)]
struct AdminApi;

/// The whole admin API document (built once).
pub fn document() -> &'static Document {
    static DOCUMENT: OnceLock<Document> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut doc = AdminApi::openapi();
        for part in routes::documents() {
            doc.merge(part);
        }
        utoipa::Modify::modify(&SharedComponents, &mut doc);
        utoipa::Modify::modify(&AdminSecurity, &mut doc);
        doc
    })
}

/// The bearer scheme as the admin API takes it: a session JWT or an API token.
struct AdminSecurity;

impl Modify for AdminSecurity {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An operator's session token (a JWT from `POST /admin/v1/login`, valid \
                         15 minutes) or an API token (`tnty_…`, `POST /admin/v1/tokens`). \
                         Tenant tokens are refused.",
                    ))
                    .build(),
            ),
        );
    }
}

/// What any authenticated admin request can fail with, besides its own checks.
pub struct AdminErrors;

impl IntoResponses for AdminErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[
            (
                400,
                "`invalid_host` (the Host header), `bad_request` (a malformed query string or \
                 header, an unreadable body; a `DELETE` of a tenant without the right \
                 confirmation), `invalid_json` (a body that is not JSON).",
            ),
            (
                401,
                "`unauthorized`: the bearer token is missing, invalid, expired or revoked, its \
                 operator is disabled or signed in again since, or it is a tenant's token.",
            ),
            (403, "`forbidden`: the caller's role does not allow this."),
            (
                404,
                "`not_found`: no such resource (or not the apex host: the admin API is served \
                 there only).",
            ),
            (408, "`request_timeout`: the body was not received in time."),
            (413, "`payload_too_large`: the body is over 64 KiB."),
            (
                503,
                "`registry_unavailable` (the master database does not answer), `busy` (the \
                 operation queue is full, or the password checker is saturated): retry later \
                 (`Retry-After` says when).",
            ),
        ])
    }
}

/// A request whose query is read into fields.
pub struct QueryErrors;

impl IntoResponses for QueryErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[(
            422,
            "`validation_failed`: `fields` names every invalid parameter and why.",
        )])
    }
}

/// A change (POST, PATCH, DELETE), with or without a JSON body.
pub struct WriteErrors;

impl IntoResponses for WriteErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[
            (
                409,
                "`conflict` (the name is taken), `invalid_state` (the tenant's or server's \
                 state does not allow this), `operation_in_progress` (another operation on the \
                 tenant runs; `Retry-After`), `idempotency_key_in_use` (a request with this \
                 `Idempotency-Key` is still being answered; `Retry-After`).",
            ),
            (
                415,
                "`unsupported_media_type`: a body must be sent as `application/json`.",
            ),
            (
                422,
                "`validation_failed`: `fields` names every invalid field and why (`body` when \
                 the body is not a JSON object of the expected shape); \
                 `idempotency_key_reused`: this `Idempotency-Key` was used with another \
                 request.",
            ),
        ])
    }
}

/// `Idempotency-Key`, on every POST and DELETE.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // only described: `admin::idempotency` reads it
pub struct Idempotent {
    /// Makes the request safe to retry: a retry with the same key and the same request (within
    /// 24 hours, by the same caller) gets the first answer again (`Idempotent-Replayed: true`)
    /// without the work being done twice; the same key with another request is 422. 1–255
    /// visible ASCII characters.
    #[param(
        rename = "Idempotency-Key",
        min_length = 1,
        max_length = 255,
        pattern = "^[!-~]+$"
    )]
    idempotency_key: Option<String>,
}

/// `Prefer: wait=N`, on long actions and `GET /operations/{id}`.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // only described: `admin::operation` reads it
pub struct PreferWait {
    /// `wait=N` (RFC 7240; N ≤ 60 seconds): wait up to N seconds for the operation to end and
    /// answer with its final state. Other preferences are ignored.
    #[param(rename = "Prefer")]
    prefer: Option<String>,
}
