//! Tenant users: `POST /api/v1/auth/login` and the [`AuthUser`] extractor.
//!
//! Tokens are JWT (HS256) carrying the tenant id (`tid`) and the user's role. The signing key is
//! derived from the current master key (HMAC-SHA256 with a fixed label), so tokens survive a
//! restart and are valid on every instance sharing the key ring; rotating the master key logs
//! everyone out. A token is only valid on the tenant it names: presented elsewhere it is 403.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpMessage as _, HttpRequest, HttpResponse, web};
use hmac::{Hmac, KeyInit as _, Mac as _};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use moka::future::Cache;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tenantry_app::UserRole;
use tenantry_app::entity::user;
use tenantry_core::TenantId;
use tenantry_core::vault::{CheckerError, Vault};
use uuid::Uuid;

use crate::AppState;
use crate::error::ApiError;
use crate::tenant::{TenantDb, request_tenant};

/// How long a token is valid.
pub const TOKEN_TTL_SECS: i64 = 3600;
const KEY_LABEL: &[u8] = b"tenantry/tenant-api/jwt/v1";

/// A 256-bit key for `label`, derived from the current master key (HMAC-SHA256), written
/// straight into a buffer wiped on drop (no unwiped copy in between).
pub(crate) fn derive_key(vault: &Vault, label: &[u8]) -> secrecy::zeroize::Zeroizing<[u8; 32]> {
    let master = vault.key_ring().current().to_base64();
    let mut mac = Hmac::<Sha256>::new_from_slice(master.expose_secret().as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(label);
    let mut secret = secrecy::zeroize::Zeroizing::new([0u8; 32]);
    hmac::digest::FixedOutput::finalize_into(mac, (&mut *secret).into());
    secret
}

/// What a token says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id in the tenant's database.
    pub sub: String,
    /// The tenant the token is for.
    pub tid: Uuid,
    pub role: UserRole,
    /// The user's session version when the token was issued: a password reset, role change or
    /// disabling bumps it, and every token issued before stops working.
    pub sv: i64,
    pub iat: i64,
    pub exp: i64,
}

/// Signs and checks tenant-user tokens.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl TokenKeys {
    /// Keys derived from the vault's current master key.
    pub fn from_vault(vault: &Vault) -> Self {
        let secret = derive_key(vault, KEY_LABEL);
        // The jsonwebtoken keys holding it afterwards wipe theirs on drop too.
        Self {
            encoding: EncodingKey::from_secret(&*secret),
            decoding: DecodingKey::from_secret(&*secret),
        }
    }

    pub fn issue(
        &self,
        tenant: TenantId,
        user_id: i64,
        role: UserRole,
        session_version: i64,
    ) -> Result<String, ApiError> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user_id.to_string(),
            tid: tenant.as_uuid(),
            role,
            sv: session_version,
            iat: now,
            exp: now + TOKEN_TTL_SECS,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(ApiError::internal)
    }

    fn verify(&self, token: &str) -> Option<Claims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 0;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .ok()
            .map(|d| d.claims)
    }
}

/// How long a user's current role and session version are reused without reading the tenant
/// database. A change made through this process's API is forgotten at once; one made by another
/// process arrives through the registry change feed (within a second), this TTL only bounds a
/// change whose feed entry could not be written.
pub const USER_STATUS_TTL: Duration = Duration::from_secs(5);

/// What a token's user is *now*, as far as tokens care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Current {
    role: UserRole,
    session_version: i64,
}

/// What a token's user is *now*: a token proves who the user was when it was issued; whether
/// they are still active, with which role, and whether their credentials changed since, is read
/// from the tenant database (cached briefly). A disabled or deleted user's token stops working,
/// and so does every token issued before a password reset or role change.
pub struct UserStatus {
    cache: Cache<(TenantId, i64), Option<Current>>,
    /// Bumped by every forget: a read that started before one may have seen the old row, and
    /// must not be cached over the forget (else an ended session would live on for the TTL).
    forgotten: AtomicU64,
}

impl Default for UserStatus {
    fn default() -> Self {
        Self {
            cache: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(USER_STATUS_TTL)
                .support_invalidation_closures()
                .build(),
            forgotten: AtomicU64::new(0),
        }
    }
}

impl UserStatus {
    /// The user's role and session version if they exist and are active.
    async fn current(
        &self,
        state: &AppState,
        tenant: TenantId,
        user_id: i64,
    ) -> Result<Option<Current>, ApiError> {
        let key = (tenant, user_id);
        if let Some(cached) = self.cache.get(&key).await {
            return Ok(cached);
        }
        let epoch = self.forgotten.load(Ordering::Acquire);
        let conn = state.pools.acquire(tenant).await?;
        let row: Option<(UserRole, Option<chrono::DateTime<chrono::Utc>>, i64)> =
            user::Entity::find_by_id(user_id)
                .select_only()
                .column(user::Column::Role)
                .column(user::Column::DisabledAt)
                .column(user::Column::SessionVersion)
                .into_tuple()
                .one(&conn)
                .await?;
        drop(conn);
        let current = row.and_then(|(role, disabled, session_version)| {
            disabled.is_none().then_some(Current {
                role,
                session_version,
            })
        });
        if self.forgotten.load(Ordering::Acquire) == epoch {
            self.cache.insert(key, current).await;
        }
        Ok(current)
    }

    fn bump(&self) {
        self.forgotten.fetch_add(1, Ordering::AcqRel);
    }

    /// Forgets what is cached about a user (after changing their role or status).
    pub async fn forget(&self, tenant: TenantId, user_id: i64) {
        self.bump();
        self.cache.invalidate(&(tenant, user_id)).await;
    }

    /// Forgets every user of a tenant (its status changed, or the feed lost track).
    pub fn forget_tenant(&self, tenant: TenantId) {
        self.bump();
        // Only fails without `support_invalidation_closures`, which the builder sets.
        let _ = self.cache.invalidate_entries_if(move |k, _| k.0 == tenant);
    }

    /// Forgets everyone (the change feed had a gap).
    pub fn forget_all(&self) {
        self.bump();
        self.cache.invalidate_all();
    }
}

/// The authenticated user of the request's tenant. Established by [`authenticate`] in the
/// tenant middleware — after the request body has been read, before any handler runs — so a
/// handler that takes both `AuthUser` and a [`TenantDb`] never leases a connection for a
/// request that is not authenticated yet.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user_id: i64,
    pub role: UserRole,
}

impl AuthUser {
    /// Refuses the request unless the user has one of `roles`.
    pub fn require(&self, roles: &[UserRole]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            req.extensions()
                .get::<AuthUser>()
                .cloned()
                .ok_or(ApiError::Unauthorized),
        )
    }
}

/// Checks the request's bearer token, if it has one, against the request's tenant: `None`
/// without an `Authorization` header; 401 for a token that is invalid, expired, of a user who
/// is gone or disabled, or issued before their credentials changed; 403 for another tenant's.
pub(crate) async fn authenticate(
    req: &HttpRequest,
    state: &AppState,
    tenant: TenantId,
) -> Result<Option<AuthUser>, ApiError> {
    let Some(header) = req.headers().get(AUTHORIZATION) else {
        return Ok(None);
    };
    let token = header
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ApiError::Unauthorized)?;
    let claims = state
        .tokens
        .verify(token.trim())
        .ok_or(ApiError::Unauthorized)?;
    if claims.tid != tenant.as_uuid() {
        return Err(ApiError::WrongTenant);
    }
    let user_id = claims.sub.parse().map_err(|_| ApiError::Unauthorized)?;
    let current = state
        .users
        .current(state, tenant, user_id)
        .await?
        .filter(|c| c.session_version == claims.sv)
        .ok_or(ApiError::Unauthorized)?;
    Ok(Some(AuthUser {
        user_id,
        role: current.role,
    }))
}

#[derive(Deserialize)]
pub struct Login {
    email: String,
    password: SecretString,
}

#[derive(Serialize)]
struct TokenBody {
    token: String,
}

/// Throttled (per client, then per account: `crate::throttle`) before the tenant database or
/// the password checker is touched; a saturated checker answers 503 `busy` at once.
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Login>,
) -> Result<HttpResponse, ApiError> {
    let Login { email, password } = body.into_inner();
    let email = email.trim().to_lowercase();
    if email.contains('\0') {
        // PostgreSQL cannot compare text holding NUL (a 500); no account has such an email.
        let field = crate::error::FieldError::new("email", "must not contain NUL (U+0000)");
        return Err(ApiError::Validation(vec![field]));
    }
    state
        .login_throttle
        .check_ip(state.proxies.client_ip(&req))?;
    let tenant = request_tenant(&req, &state).await?.id;
    state.login_throttle.check_account(tenant, &email)?;
    let db = TenantDb::extract(&req).await?;
    let found = user::Entity::find()
        .filter(user::Column::Email.eq(email))
        .filter(user::Column::DisabledAt.is_null())
        .one(&*db)
        .await?;
    // Give the connection back before the deliberately slow hash check.
    drop(db);
    let hash = found
        .as_ref()
        .map_or_else(|| decoy_hash(&state), |u| u.password_hash.clone());
    let verified = match state.passwords.verify(password, hash).await {
        Ok(verified) => verified,
        Err(CheckerError::Password(e)) => {
            tracing::warn!(error = %e, "a user's stored password hash is unreadable");
            false
        }
        Err(e) => return Err(crate::throttle::checker_error(e)),
    };
    match found {
        Some(user) if verified => {
            let token = state
                .tokens
                .issue(tenant, user.id, user.role, user.session_version)?;
            Ok(HttpResponse::Ok().json(TokenBody { token }))
        }
        _ => Err(ApiError::InvalidCredentials),
    }
}

/// A hash to check unknown (or disabled) users' passwords against, so "no such user" takes as
/// long as "wrong password". Made once with the checker, at no hashing cost.
fn decoy_hash(state: &AppState) -> String {
    state.passwords.decoy_hash().to_owned()
}
