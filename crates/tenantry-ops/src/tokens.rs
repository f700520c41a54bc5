//! API tokens for operators' scripts: shown once, stored as a SHA-256 hash, revocable one at a
//! time. A token is 256 random bits, so a fast hash is enough to store it (nothing to brute
//! force) and lets a request find its token with one indexed lookup.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest as _, Sha256};
use tenantry_core::ApiTokenId;
use tenantry_registry::{AdminRole, ApiToken, NewApiToken};

use crate::{Caller, Operator, OpsError, Permission};

/// Every API token starts with this, so a leaked one is recognisable (secret scanners) and the
/// admin API tells it from a session JWT without trying both.
pub const TOKEN_PREFIX: &str = "tnty_";

/// A use is recorded at most this often per token (one write, not one per request).
const TOUCH_EVERY_SECS: i64 = 10;

/// What callers see of a token: never the secret, nor its hash.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenView {
    #[schema(value_type = String, format = "uuid")]
    pub id: ApiTokenId,
    pub name: String,
    pub role: AdminRole,
    /// Who created it (an audit actor: `admin:<email>`, `cli:<user>`, …).
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<&ApiToken> for TokenView {
    fn from(t: &ApiToken) -> Self {
        Self {
            id: t.id,
            name: t.name.clone(),
            role: t.role,
            created_by: t.created_by.clone(),
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// A new token and its secret, shown this once.
#[derive(Debug)]
pub struct IssuedToken {
    pub token: TokenView,
    pub secret: SecretString,
}

fn hash(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn token_name(raw: &str) -> Result<String, OpsError> {
    let name = raw.trim();
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ' '));
    if ok {
        Ok(name.to_owned())
    } else {
        Err(OpsError::invalid(
            "name",
            "must be 1–64 characters: letters, digits, space, '-', '_' or '.'",
        ))
    }
}

impl Operator {
    /// Issues a token (owners only). A token never has more rights than its role.
    pub async fn create_token(
        &self,
        caller: &Caller,
        name: &str,
        role: AdminRole,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<IssuedToken, OpsError> {
        caller.require(Permission::Admins)?;
        let name = token_name(name)?;
        if expires_at.is_some_and(|at| at <= Utc::now()) {
            return Err(OpsError::invalid("expires_at", "must be in the future"));
        }
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let secret = SecretString::from(format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)));
        let detail = json!({ "name": name, "role": role, "expires_at": expires_at });
        let token = self
            .registry()
            .insert_api_token(
                NewApiToken {
                    name,
                    role,
                    token_hash: hash(secret.expose_secret()),
                    expires_at,
                    created_by: caller.origin.actor.to_string(),
                },
                caller.audit("token.create", None, detail),
            )
            .await?;
        Ok(IssuedToken {
            token: TokenView::from(&token),
            secret,
        })
    }

    pub async fn list_tokens(&self, caller: &Caller) -> Result<Vec<TokenView>, OpsError> {
        caller.require(Permission::Admins)?;
        let tokens = self.registry().list_api_tokens().await?;
        Ok(tokens.iter().map(TokenView::from).collect())
    }

    /// Revokes a token: every process refuses it from its next request on (tokens are looked
    /// up on every request, never cached).
    pub async fn revoke_token(&self, caller: &Caller, id: ApiTokenId) -> Result<(), OpsError> {
        caller.require(Permission::Admins)?;
        let detail = json!({ "token_id": id });
        let revoked = self
            .registry()
            .revoke_api_token(id, caller.audit("token.revoke", None, detail))
            .await?;
        if revoked {
            Ok(())
        } else {
            Err(OpsError::NotFound {
                what: format!("token {id}"),
            })
        }
    }

    /// The usable token `secret` names, if any (not revoked, not expired), with its use recorded.
    pub async fn authenticate_token(&self, secret: &str) -> Result<Option<ApiToken>, OpsError> {
        if !secret.starts_with(TOKEN_PREFIX) || secret.len() > 128 {
            return Ok(None);
        }
        let now = Utc::now();
        let Some(token) = self.registry().api_token_by_hash(&hash(secret)).await? else {
            return Ok(None);
        };
        if !token.is_usable(now) {
            return Ok(None);
        }
        let stale = token
            .last_used_at
            .is_none_or(|at| (now - at).num_seconds() >= TOUCH_EVERY_SECS);
        if stale && let Err(e) = self.registry().touch_api_token(token.id).await {
            // Recording the use is bookkeeping: the request goes on.
            tracing::warn!(error = %e, token = %token.name, "could not record an API token's use");
        }
        Ok(Some(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_and_plain() {
        assert!(token_name("deploy bot-1").is_ok());
        assert!(token_name("").is_err());
        assert!(token_name(&"a".repeat(65)).is_err());
        assert!(token_name("x\u{0}").is_err());
    }

    #[test]
    fn the_stored_hash_is_sha256_hex() {
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
