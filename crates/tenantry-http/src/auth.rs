//! Tenant users: `POST /api/v1/auth/login` and the [`AuthUser`] extractor.
//!
//! Tokens are JWT (HS256) carrying the tenant id (`tid`) and the user's role. The signing key is
//! derived from the current master key (HMAC-SHA256 with a fixed label), so tokens survive a
//! restart and are valid on every instance sharing the key ring; rotating the master key logs
//! everyone out. A token is only valid on the tenant it names: presented elsewhere it is 403.

use std::sync::OnceLock;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
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
use tenantry_core::vault::{Vault, hash_password, verify_password};
use uuid::Uuid;

use crate::AppState;
use crate::error::ApiError;
use crate::tenant::{TenantDb, app_state, request_tenant};

/// How long a token is valid.
pub const TOKEN_TTL_SECS: i64 = 3600;
const KEY_LABEL: &[u8] = b"tenantry/tenant-api/jwt/v1";

/// What a token says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id in the tenant's database.
    pub sub: String,
    /// The tenant the token is for.
    pub tid: Uuid,
    pub role: UserRole,
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
        let master = vault.key_ring().current().to_base64();
        let mut mac = Hmac::<Sha256>::new_from_slice(master.expose_secret().as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(KEY_LABEL);
        let secret: [u8; 32] = mac.finalize().into_bytes().into();
        Self {
            encoding: EncodingKey::from_secret(&secret),
            decoding: DecodingKey::from_secret(&secret),
        }
    }

    pub fn issue(
        &self,
        tenant: TenantId,
        user_id: i64,
        role: UserRole,
    ) -> Result<String, ApiError> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user_id.to_string(),
            tid: tenant.as_uuid(),
            role,
            iat: now,
            exp: now + TOKEN_TTL_SECS,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(ApiError::internal)
    }

    fn verify(&self, token: &str) -> Option<Claims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .ok()
            .map(|d| d.claims)
    }
}

/// How long a user's current role and status are reused without reading the tenant database.
/// A change made through this process's API is seen at once; one made elsewhere (another
/// instance) within this delay.
pub const USER_STATUS_TTL: Duration = Duration::from_secs(5);

/// What a token's user is *now*: a token proves who the user was when it was issued; whether
/// they are still active, and with which role, is read from the tenant database (cached
/// briefly). A disabled or deleted user's token stops working; a demoted admin loses admin
/// rights — neither waits for the token to expire.
pub struct UserStatus {
    cache: Cache<(TenantId, i64), Option<UserRole>>,
}

impl Default for UserStatus {
    fn default() -> Self {
        Self {
            cache: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(USER_STATUS_TTL)
                .build(),
        }
    }
}

impl UserStatus {
    /// The user's role if they exist and are active.
    async fn current_role(
        &self,
        state: &AppState,
        tenant: TenantId,
        user_id: i64,
    ) -> Result<Option<UserRole>, ApiError> {
        self.cache
            .try_get_with((tenant, user_id), async {
                let conn = state.pools.acquire(tenant).await?;
                let row: Option<(UserRole, Option<chrono::DateTime<chrono::Utc>>)> =
                    user::Entity::find_by_id(user_id)
                        .select_only()
                        .column(user::Column::Role)
                        .column(user::Column::DisabledAt)
                        .into_tuple()
                        .one(&conn)
                        .await?;
                Ok::<_, ApiError>(
                    row.and_then(|(role, disabled)| disabled.is_none().then_some(role)),
                )
            })
            .await
            .map_err(ApiError::from_shared)
    }

    /// Forgets what is cached about a user (after changing their role or status).
    pub async fn forget(&self, tenant: TenantId, user_id: i64) {
        self.cache.invalidate(&(tenant, user_id)).await;
    }
}

/// The authenticated user of the request's tenant.
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
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = app_state(&req);
            let token = req
                .headers()
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or(ApiError::Unauthorized)?;
            let claims = state
                .tokens
                .verify(token.trim())
                .ok_or(ApiError::Unauthorized)?;
            let tenant = request_tenant(&req, &state).await?;
            if claims.tid != tenant.id.as_uuid() {
                return Err(ApiError::WrongTenant);
            }
            let user_id = claims.sub.parse().map_err(|_| ApiError::Unauthorized)?;
            let role = state
                .users
                .current_role(&state, tenant.id, user_id)
                .await?
                .ok_or(ApiError::Unauthorized)?;
            Ok(AuthUser { user_id, role })
        })
    }
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

pub async fn login(
    state: web::Data<AppState>,
    db: TenantDb,
    body: web::Json<Login>,
) -> Result<HttpResponse, ApiError> {
    let Login { email, password } = body.into_inner();
    let email = email.trim().to_lowercase();
    let found = user::Entity::find()
        .filter(user::Column::Email.eq(email))
        .filter(user::Column::DisabledAt.is_null())
        .one(&*db)
        .await?;
    let tenant = db.tenant.id;
    // Give the connection back before the deliberately slow hash check.
    drop(db);
    let hash = found
        .as_ref()
        .map_or_else(|| decoy_hash().to_owned(), |u| u.password_hash.clone());
    let verified = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .map_err(ApiError::internal)?
        .unwrap_or(false);
    match found {
        Some(user) if verified => {
            let token = state.tokens.issue(tenant, user.id, user.role)?;
            Ok(HttpResponse::Ok().json(TokenBody { token }))
        }
        _ => Err(ApiError::InvalidCredentials),
    }
}

/// A hash to check unknown users' passwords against, so "no such user" takes as long as "wrong
/// password".
fn decoy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password(&tenantry_core::vault::random_password()).unwrap_or_default())
}
