//! Who calls the admin API: an operator with a session token from `POST /admin/v1/login`, or a
//! script with an API token (`tnty_…`).
//!
//! Session tokens are JWT (HS256) under a key of their own (derived from the master key with
//! another label than tenant tokens) and with the audience `tenantry-admin`: a tenant token is
//! never accepted here, nor a session token on a tenant route. Both kinds are checked against the
//! master on every request — the operator must still exist, be enabled and have the session
//! version the token was issued under; the API token must be unrevoked and unexpired — so a
//! revocation or a disabled operator takes effect at the next request in every process.

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpMessage as _, HttpRequest, HttpResponse, web};
use hmac::{Hmac, KeyInit as _, Mac as _};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::SecretString;
use secrecy::zeroize::Zeroizing;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tenantry_core::vault::Vault;
use tenantry_core::{AdminId, TenantId};
use tenantry_ops::{Caller, TOKEN_PREFIX};
use tenantry_registry::{Actor, Origin};
use uuid::Uuid;

use crate::AppState;
use crate::error::ApiError;

/// How long an operator's session token is valid.
pub const ADMIN_TOKEN_TTL_SECS: i64 = 900;
const KEY_LABEL: &[u8] = b"tenantry/admin-api/jwt/v1";
const IDEMPOTENCY_LABEL: &[u8] = b"tenantry/admin-api/idempotency/v1";
const AUDIENCE: &str = "tenantry-admin";

/// The account namespace of operators in the login throttle (tenant users are keyed by their
/// tenant's id; no tenant has the nil id).
const ADMIN_THROTTLE_SCOPE: Uuid = Uuid::nil();

#[derive(Debug, Serialize, Deserialize)]
struct AdminClaims {
    /// The operator's id.
    sub: Uuid,
    aud: String,
    /// The operator's session version when the token was issued.
    sv: i64,
    iat: i64,
    exp: i64,
}

/// Signs and checks operators' session tokens.
pub struct AdminKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// Keys the fingerprints of idempotent requests: a body may hold a password, and a plain
    /// hash of it stored in the master could be guessed offline.
    fingerprint: Zeroizing<[u8; 32]>,
}

impl AdminKeys {
    pub fn from_vault(vault: &Vault) -> Self {
        let secret = crate::auth::derive_key(vault, KEY_LABEL);
        Self {
            encoding: EncodingKey::from_secret(&*secret),
            decoding: DecodingKey::from_secret(&*secret),
            fingerprint: crate::auth::derive_key(vault, IDEMPOTENCY_LABEL),
        }
    }

    /// A keyed fingerprint (hex HMAC-SHA256) of `parts`, each length-prefixed.
    pub(crate) fn fingerprint(&self, parts: &[&[u8]]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&*self.fingerprint)
            .expect("HMAC accepts keys of any length");
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn issue(&self, admin: AdminId, session_version: i64) -> Result<String, ApiError> {
        let now = chrono::Utc::now().timestamp();
        let claims = AdminClaims {
            sub: admin.as_uuid(),
            aud: AUDIENCE.into(),
            sv: session_version,
            iat: now,
            exp: now + ADMIN_TOKEN_TTL_SECS,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(ApiError::internal)
    }

    fn verify(&self, token: &str) -> Option<AdminClaims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub", "aud"]);
        validation.set_audience(&[AUDIENCE]);
        validation.leeway = 0;
        jsonwebtoken::decode::<AdminClaims>(token, &self.decoding, &validation)
            .ok()
            .map(|d| d.claims)
    }
}

/// The caller of an admin route, established by the admin middleware.
#[derive(Debug, Clone)]
pub struct AdminCaller(pub Caller);

impl FromRequest for AdminCaller {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            req.extensions()
                .get::<AdminCaller>()
                .cloned()
                .ok_or(ApiError::Unauthorized),
        )
    }
}

/// Checks the request's bearer token: 401 without one, or for one that is not (or no longer)
/// valid.
pub(crate) async fn authenticate(req: &HttpRequest, state: &AppState) -> Result<Caller, ApiError> {
    let token = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(ApiError::Unauthorized)?;
    let origin = |actor| Origin {
        actor,
        ip: Some(state.proxies.client_ip(req).to_string()),
        request_id: Some(crate::error::current_request_id()),
    };
    if token.starts_with(TOKEN_PREFIX) {
        let token = state
            .ops
            .authenticate_token(token)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        return Ok(Caller {
            origin: origin(Actor::Token { name: token.name }),
            role: token.role,
        });
    }
    let claims = state
        .admin_keys
        .verify(token)
        .ok_or(ApiError::Unauthorized)?;
    let admin = state
        .registry
        .admin(AdminId::from(claims.sub))
        .await
        .map_err(tenantry_ops::OpsError::from)?
        .filter(|a| !a.is_disabled() && a.session_version == claims.sv)
        .ok_or(ApiError::Unauthorized)?;
    Ok(Caller {
        origin: origin(Actor::Admin { email: admin.email }),
        role: admin.role,
    })
}

/// Takes one password check from the client's and the operator's quotas (shared by logins and
/// password changes): beyond them, 429 before any hashing.
pub(crate) fn throttle_password_check(
    req: &HttpRequest,
    state: &AppState,
    email: &str,
) -> Result<(), ApiError> {
    let throttle = &state.login_throttle;
    throttle.check_ip(state.proxies.client_ip(req))?;
    throttle.check_account(TenantId::from(ADMIN_THROTTLE_SCOPE), email)
}

/// `POST /admin/v1/login`.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = AdminLogin)]
pub struct Login {
    /// The operator's email (case does not matter).
    #[schema(format = Email)]
    email: String,
    #[schema(value_type = String, format = Password)]
    password: SecretString,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AdminSession)]
struct TokenBody {
    /// A session token for `Authorization: Bearer …` on the admin API.
    token: String,
    /// Seconds it stays valid.
    expires_in: i64,
}

/// What a login can fail with (it needs no token).
pub struct LoginErrors;

impl utoipa::IntoResponses for LoginErrors {
    fn responses()
    -> std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::Response>> {
        crate::openapi::responses(&[
            (
                400,
                "`invalid_host` (the Host header), `invalid_json` (a body that is not JSON), \
                 `bad_request` (an unreadable body).",
            ),
            (
                401,
                "`invalid_credentials`: wrong email or password, or a disabled operator.",
            ),
            (
                404,
                "`not_found`: not the apex host (the admin API is served there only).",
            ),
            (408, "`request_timeout`: the body was not received in time."),
            (413, "`payload_too_large`: the body is over 64 KiB."),
            (
                415,
                "`unsupported_media_type`: the body must be sent as `application/json`.",
            ),
            (
                422,
                "`validation_failed`: the body does not hold `email` and `password` strings \
                 (`fields` says why).",
            ),
            (
                429,
                "`too_many_requests`: too many attempts from this client or for this account \
                 (`Retry-After`).",
            ),
            (
                503,
                "`busy` (the password checker is saturated), `registry_unavailable`: retry \
                 later (`Retry-After`).",
            ),
        ])
    }
}

/// Signs an operator in: a session token for the admin API. Throttled per client and per
/// account before the password is checked; a saturated checker answers 503 `busy` at once.
#[utoipa::path(
    post,
    path = "/admin/v1/login",
    tag = "auth",
    operation_id = "admin_login",
    request_body = Login,
    responses(
        (status = 200, description = "A session token.", body = TokenBody),
        LoginErrors,
    )
)]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Login>,
) -> Result<HttpResponse, ApiError> {
    let Login { email, password } = body.into_inner();
    let email = email.trim().to_lowercase();
    throttle_password_check(&req, &state, &email)?;
    let admin = state
        .ops
        .verify_admin_login(&email, password)
        .await?
        .ok_or(ApiError::InvalidCredentials)?;
    let token = state.admin_keys.issue(admin.id, admin.session_version)?;
    Ok(HttpResponse::Ok().json(TokenBody {
        token,
        expires_in: ADMIN_TOKEN_TTL_SECS,
    }))
}
