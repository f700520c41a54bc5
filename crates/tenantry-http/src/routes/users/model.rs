//! What the users API sends and receives.

use sea_orm::prelude::DateTimeUtc;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use tenantry_app::UserRole;
use tenantry_app::entity::user;
use utoipa::ToSchema;

/// What a user may do: admins everything; accountants write ledgers, vouchers and invoices;
/// viewers read.
#[derive(ToSchema)]
#[schema(as = UserRole)]
#[allow(dead_code)] // only described
#[serde(rename_all = "lowercase")]
pub enum UserRoleDoc {
    Admin,
    Accountant,
    Viewer,
}

/// A user as the API shows it: never the password hash.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = User)]
pub struct UserView {
    pub(super) id: i64,
    /// The login name.
    pub(super) email: String,
    pub(super) name: String,
    #[schema(value_type = UserRoleDoc)]
    pub(super) role: UserRole,
    /// `false` once disabled: the user can no longer log in.
    pub(super) active: bool,
    #[schema(value_type = String, format = DateTime)]
    pub(super) created_at: DateTimeUtc,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub(super) disabled_at: Option<DateTimeUtc>,
}

impl From<user::Model> for UserView {
    fn from(m: user::Model) -> Self {
        Self {
            id: m.id,
            email: m.email,
            name: m.name,
            role: m.role,
            active: m.disabled_at.is_none(),
            created_at: m.created_at,
            disabled_at: m.disabled_at,
        }
    }
}

/// A new user. Every field is required.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewUser {
    /// The login name, unique in the tenant.
    #[schema(required = true, value_type = String, format = Email)]
    pub(super) email: Option<String>,
    /// Trimmed; not blank.
    #[schema(required = true, value_type = String, min_length = 1, max_length = 200, pattern = r"\S")]
    pub(super) name: Option<String>,
    /// 12 to 1024 characters, not one character repeated throughout.
    #[schema(required = true, value_type = String, format = Password, min_length = 12, max_length = 1024)]
    pub(super) password: Option<SecretString>,
    #[schema(required = true, value_type = UserRoleDoc)]
    pub(super) role: Option<String>,
}

/// `PATCH /users/{id}`: name, role, active (`false` disables the user, `true` enables them
/// again) and a password reset. The email is the login name and stays. Absent or `null` fields
/// stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// Trimmed; not blank.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub(super) name: Option<String>,
    #[schema(value_type = Option<UserRoleDoc>)]
    pub(super) role: Option<String>,
    /// `false` disables the user (their tokens stop working), `true` enables them again.
    pub(super) active: Option<bool>,
    /// A new password (12 to 1024 characters, not one character repeated throughout).
    #[schema(value_type = Option<String>, format = Password, min_length = 12, max_length = 1024)]
    pub(super) password: Option<SecretString>,
}
