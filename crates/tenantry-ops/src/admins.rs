//! Operators of the installation: creating them, listing them, checking their logins.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Serialize;
use serde_json::json;
use tenantry_core::vault::{CheckerError, random_password};
use tenantry_core::{AdminId, Email};
use tenantry_registry::{Actor, Admin, AdminPatch, AdminRole};

use crate::{Caller, Operator, OpsError, Permission};

/// What callers see of an operator: never the hash.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AdminView {
    #[schema(value_type = String, format = "uuid")]
    pub id: AdminId,
    pub email: String,
    pub role: AdminRole,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub disabled_at: Option<DateTime<Utc>>,
}

impl From<&Admin> for AdminView {
    fn from(a: &Admin) -> Self {
        Self {
            id: a.id,
            email: a.email.to_string(),
            role: a.role,
            created_at: a.created_at,
            last_login_at: a.last_login_at,
            disabled_at: a.disabled_at,
        }
    }
}

/// A new operator; `password: None` generates a one-time password, returned once.
#[derive(Debug)]
pub struct NewAdmin {
    pub email: String,
    pub password: Option<SecretString>,
    pub role: AdminRole,
}

impl Operator {
    /// Adds an operator (owners only). Returns it and the one-time password, if generated.
    pub async fn create_admin(
        &self,
        caller: &Caller,
        new: NewAdmin,
    ) -> Result<(AdminView, Option<SecretString>), OpsError> {
        caller.require(Permission::Admins)?;
        let email = Email::parse(&new.email).map_err(|e| OpsError::invalid("email", e))?;
        let (password, generated, hash) =
            self.password_or_generated(new.password, "password").await?;
        let detail = json!({ "email": email.as_str(), "role": new.role });
        let admin = self
            .registry()
            .create_admin(
                &email,
                hash,
                new.role,
                caller.audit("admin.create", None, detail),
            )
            .await?;
        Ok((AdminView::from(&admin), generated.then_some(password)))
    }

    pub async fn list_admins(&self, caller: &Caller) -> Result<Vec<AdminView>, OpsError> {
        caller.require(Permission::Admins)?;
        let admins = self.registry().list_admins().await?;
        Ok(admins.iter().map(AdminView::from).collect())
    }

    /// Checks an operator's email and password. Unknown and disabled operators are checked
    /// against a decoy hash, so every answer costs the same; any failure is `None`.
    pub async fn verify_admin_login(
        &self,
        email: &str,
        password: SecretString,
    ) -> Result<Option<Admin>, OpsError> {
        let found = match Email::parse(email) {
            Ok(email) => self
                .registry()
                .admin_by_email(&email)
                .await?
                .filter(|a| !a.is_disabled()),
            Err(_) => None,
        };
        let hash = found.as_ref().map_or_else(
            || self.passwords().decoy_hash().to_owned(),
            |a| a.password_hash().expose_secret().to_owned(),
        );
        let verified = match self.passwords().verify(password, hash).await {
            Ok(verified) => verified,
            Err(CheckerError::Password(e)) => {
                tracing::warn!(error = %e, "an operator's stored password hash is unreadable");
                false
            }
            Err(e) => return Err(checker_error(e)),
        };
        Ok(found.filter(|_| verified))
    }
}

impl Operator {
    /// A new account's password: `given` once it passes the password rules (else `Invalid` on
    /// `field`), or a generated one-time password. With whether it was generated, and its
    /// argon2id hash, computed on the password checker's threads.
    pub(crate) async fn password_or_generated(
        &self,
        given: Option<SecretString>,
        field: &str,
    ) -> Result<(SecretString, bool, String), OpsError> {
        let (password, generated) = match given {
            Some(p) => {
                tenantry_core::password::check(p.expose_secret())
                    .map_err(|e| OpsError::invalid(field, e))?;
                (p, false)
            }
            None => (random_password(), true),
        };
        let hash = self
            .passwords()
            .hash(password.clone())
            .await
            .map_err(checker_error)?;
        Ok((password, generated, hash))
    }
}

/// Changes to an operator; `None` leaves a field as it is. Any of them ends the operator's
/// sessions at once.
#[derive(Debug, Default)]
pub struct AdminChanges {
    pub role: Option<AdminRole>,
    pub disabled: Option<bool>,
    /// A new password (the password rules apply), set by an owner.
    pub password: Option<SecretString>,
}

impl Operator {
    /// Changes an operator's role, disables or re-enables them, or sets a new password (owners
    /// only). The last active owner can be neither demoted nor disabled.
    pub async fn update_admin(
        &self,
        caller: &Caller,
        id: AdminId,
        changes: AdminChanges,
    ) -> Result<AdminView, OpsError> {
        caller.require(Permission::Admins)?;
        let password_changed = changes.password.is_some();
        let password_hash = match changes.password {
            Some(p) => Some(self.password_or_generated(Some(p), "password").await?.2),
            None => None,
        };
        let detail = json!({
            "admin_id": id,
            "role": changes.role,
            "disabled": changes.disabled,
            "password_changed": password_changed,
        });
        let patch = AdminPatch {
            role: changes.role,
            disabled: changes.disabled,
            password_hash,
        };
        let audit = caller.audit("admin.update", None, detail);
        let admin = self.registry().update_admin(id, patch, audit).await?;
        Ok(AdminView::from(&admin))
    }

    /// A signed-in operator changes their own password, giving the current one. Ends their
    /// other sessions (and this one: they sign in again). Only for a signed-in operator: an API
    /// token has no password.
    pub async fn change_own_password(
        &self,
        caller: &Caller,
        current: SecretString,
        new: SecretString,
    ) -> Result<(), OpsError> {
        let Actor::Admin { email } = &caller.origin.actor else {
            return Err(OpsError::InvalidState(
                "only a signed-in operator has a password to change".into(),
            ));
        };
        let admin = self
            .verify_admin_login(email.as_str(), current)
            .await?
            .ok_or_else(|| OpsError::invalid("current_password", "is not your password"))?;
        let (_, _, hash) = self
            .password_or_generated(Some(new), "new_password")
            .await?;
        let patch = AdminPatch {
            password_hash: Some(hash),
            ..AdminPatch::default()
        };
        let detail = json!({ "admin_id": admin.id, "password_changed": true });
        let audit = caller.audit("admin.password", None, detail);
        self.registry().update_admin(admin.id, patch, audit).await?;
        Ok(())
    }
}

/// A saturated checker is `Busy` (503, retry); anything else is a failure of ours.
pub(crate) fn checker_error(e: CheckerError) -> OpsError {
    match e {
        CheckerError::Busy => OpsError::Busy {
            what: "the password checker".into(),
        },
        e => OpsError::Failed(Box::new(e)),
    }
}
