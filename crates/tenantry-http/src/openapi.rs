//! OpenAPI 3.1 documents generated from the handlers (`utoipa`), and what every API's document
//! shares: the error body ([`ErrorBody`]), the page envelope ([`Paginated`]), the error responses
//! ([`error_response`]) and bearer-JWT security ([`SharedComponents`], [`BEARER`]).
//!
//! [`serve`] mounts a document at `<prefix>/openapi.json` and Swagger UI at `<prefix>/docs/`,
//! both answered on any host without a tenant or a token; [`serve_scoped`] mounts the same
//! inside the API's own scope (the admin API's: apex host only, still without a token). Swagger
//! UI is vendored: nothing is downloaded at build or run time.
//!
//! The tenant API's document is assembled in `routes::spec`, from each route module's own; the
//! admin API's in `admin::spec`.

use std::collections::BTreeMap;

use actix_web::web::{self, ServiceConfig};
use actix_web::{HttpResponse, http::header};
use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, ObjectBuilder, Ref, RefOr, Schema, Type};
use utoipa::{IntoResponses, Modify, PartialSchema, ToSchema};

/// The name of the bearer-JWT security scheme in every document.
pub const BEARER: &str = "bearer";

/// Every error answer: `{"error": {...}}`.
#[derive(Debug, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `validation_failed`, `not_found`, `tenant_suspended`, … (each
    /// response's description lists the codes it can carry).
    #[schema(example = "validation_failed")]
    pub code: String,
    /// For people; safe to show. A 500 says no more than `internal error`.
    pub message: String,
    /// The request's id, as in the `X-Request-Id` header: quote it when reporting a problem.
    pub request_id: String,
    /// Only on 422 `validation_failed`: every invalid field at once.
    #[schema(nullable = false)]
    pub fields: Option<Vec<FieldErrorDoc>>,
}

/// One invalid input field (`crate::error::FieldError`).
#[derive(Debug, ToSchema)]
#[schema(as = FieldError)]
pub struct FieldErrorDoc {
    /// `code`, or `lines[2].debit` for a nested one; `body` when the body does not have the
    /// expected shape at all.
    pub field: String,
    pub message: String,
}

/// One page of a list: `{data, page, limit, total}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paginated<T> {
    pub data: Vec<T>,
    /// The page number (1-based) this is.
    #[schema(minimum = 1)]
    pub page: u64,
    /// The most items a page holds.
    #[schema(minimum = 1)]
    pub limit: u64,
    /// Items in all pages together.
    pub total: u64,
}

/// An integer that may exceed 64 bits (report sums): no `format`.
pub fn big_integer() -> Schema {
    ObjectBuilder::new().schema_type(Type::Integer).into()
}

fn header(description: &str) -> utoipa::openapi::header::Header {
    utoipa::openapi::header::HeaderBuilder::new()
        .schema(ObjectBuilder::new().schema_type(Type::String))
        .description(Some(description))
        .build()
}

/// An error response with the [`ErrorBody`] and the headers it may carry (`X-Request-Id`
/// always; `Retry-After` on 429 and 503; `WWW-Authenticate` on 401).
pub fn error_response(status: u16, description: &str) -> Response {
    let mut response = ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .header("X-Request-Id", header("The request's id, as in the body."));
    if matches!(status, 429 | 503) {
        response = response.header(
            "Retry-After",
            header("Seconds to wait before retrying (when a retry can help)."),
        );
    }
    if status == 401 {
        response = response.header(
            "WWW-Authenticate",
            header("`Bearer` when a token is missing."),
        );
    }
    response.build()
}

/// Error responses by status, each with [`error_response`].
pub fn responses(list: &[(u16, &str)]) -> BTreeMap<String, RefOr<Response>> {
    list.iter()
        .map(|&(status, description)| {
            (
                status.to_string(),
                RefOr::T(error_response(status, description)),
            )
        })
        .collect()
}

/// What any tenant API request can fail with, before or besides its own checks.
pub struct TenantErrors;

impl IntoResponses for TenantErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[
            (
                400,
                "`invalid_host` (the Host header), `bad_request` (a malformed query string or \
                 `X-Tenant-Id`, an unreadable body), `invalid_json` (a body that is not JSON).",
            ),
            (
                401,
                "`unauthorized`: the bearer token is missing, invalid or expired, or its user is \
                 disabled, deleted or changed their credentials since.",
            ),
            (
                403,
                "`tenant_suspended`, `wrong_tenant` (a token of another tenant), `forbidden` \
                 (the user's role does not allow this), `storage_quota_exceeded` (a write while \
                 the tenant's database is at its storage limit; reads and deletes go on).",
            ),
            (
                404,
                "`tenant_not_found` (no tenant at this address), `not_found` (no such resource).",
            ),
            (408, "`request_timeout`: the body was not received in time."),
            (413, "`payload_too_large`: the body is over 64 KiB."),
            (
                503,
                "`tenant_provisioning`, `tenant_unavailable`, `tenant_maintenance`, \
                 `database_busy`, `database_unavailable`, `registry_unavailable`, `busy`: retry later \
                 (`Retry-After` says when, if it is known).",
            ),
        ])
    }
}

/// A request whose input (query or body) is read into fields.
pub struct InvalidInput;

impl IntoResponses for InvalidInput {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[(
            422,
            "`validation_failed`: `fields` names every invalid field and why.",
        )])
    }
}

/// A request with a JSON body.
pub struct JsonBodyErrors;

impl IntoResponses for JsonBodyErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[
            (
                415,
                "`unsupported_media_type`: the body must be sent as `application/json`.",
            ),
            (
                422,
                "`validation_failed`: `fields` names every invalid field and why (`body` when \
                 the JSON does not have the expected shape).",
            ),
        ])
    }
}

/// The request contradicts the tenant's data (the operation says how); nothing was changed.
pub struct Conflict;

impl IntoResponses for Conflict {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[(
            409,
            "`conflict`: the request contradicts the tenant's data (the message says how); \
             nothing was changed.",
        )])
    }
}

/// Adds what [`error_response`] and `security((BEARER = []))` refer to: the bearer-JWT scheme
/// and the error body's schemas.
pub struct SharedComponents;

impl Modify for SharedComponents {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components
            .schemas
            .entry("ErrorBody".into())
            .or_insert_with(<ErrorBody as PartialSchema>::schema);
        let mut shared = Vec::new();
        <ErrorBody as ToSchema>::schemas(&mut shared);
        for (name, schema) in shared {
            components.schemas.entry(name).or_insert(schema);
        }
    }
}

/// `openapi` as JSON. utoipa 5 writes a response link's fields in snake case
/// (`operation_id`); OpenAPI names them in camel case (`operationId`), as tools expect.
pub fn to_json(openapi: &utoipa::openapi::OpenApi) -> serde_json::Value {
    let mut json = serde_json::to_value(openapi).expect("an OpenAPI document is JSON");
    if let Some(paths) = json.get_mut("paths").and_then(Value::as_object_mut) {
        let operations = paths
            .values_mut()
            .filter_map(Value::as_object_mut)
            .flat_map(|item| item.values_mut());
        let responses =
            operations.filter_map(|op| op.get_mut("responses").and_then(Value::as_object_mut));
        for response in responses.flat_map(|r| r.values_mut()) {
            let Some(links) = response.get_mut("links").and_then(Value::as_object_mut) else {
                continue;
            };
            for link in links.values_mut().filter_map(Value::as_object_mut) {
                for (snake, camel) in [
                    ("operation_id", "operationId"),
                    ("operation_ref", "operationRef"),
                    ("request_body", "requestBody"),
                ] {
                    if let Some(value) = link.remove(snake) {
                        link.insert(camel.into(), value);
                    }
                }
            }
        }
    }
    json
}

/// Serves `openapi` at `GET <prefix>/openapi.json` and Swagger UI at `GET <prefix>/docs/`
/// (`<prefix>/docs` redirects there). Register before any scope that would claim `<prefix>`.
pub fn serve(cfg: &mut ServiceConfig, prefix: &str, openapi: utoipa::openapi::OpenApi) {
    let json = format!("{prefix}/openapi.json");
    let docs = format!("{prefix}/docs/");
    cfg.service(
        web::resource(format!("{prefix}/docs")).route(web::get().to(move || {
            let docs = docs.clone();
            async move {
                HttpResponse::PermanentRedirect()
                    .insert_header((header::LOCATION, docs))
                    .finish()
            }
        })),
    )
    .service(
        utoipa_swagger_ui::SwaggerUi::new(format!("{prefix}/docs/{{_:.*}}"))
            .external_url_unchecked(json, to_json(&openapi)),
    );
}

/// [`serve`] inside the scope mounted at `prefix`: `GET /openapi.json`, `GET /docs` (a redirect)
/// and `GET /docs/…` relative to the scope, so its middleware runs for them too.
pub fn serve_scoped(cfg: &mut ServiceConfig, prefix: &str, openapi: &utoipa::openapi::OpenApi) {
    let json = format!("{prefix}/openapi.json");
    let docs = format!("{prefix}/docs/");
    let document = web::Data::new(to_json(openapi));
    cfg.service(
        web::resource("/openapi.json").app_data(document).route(
            web::get()
                .to(|doc: web::Data<Value>| async move { HttpResponse::Ok().json(doc.get_ref()) }),
        ),
    )
    .service(web::resource("/docs").route(web::get().to(move || {
        let docs = docs.clone();
        async move {
            HttpResponse::PermanentRedirect()
                .insert_header((header::LOCATION, docs))
                .finish()
        }
    })))
    .service(
        utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}")
            .config(utoipa_swagger_ui::Config::new([json])),
    );
}
