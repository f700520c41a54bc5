//! Tenant roles: creating or converging one, its login state, and dropping it.

use secrecy::SecretString;

use super::{
    PostgresBackend, ROLE_ATTRIBUTES, ROLE_ATTRIBUTES_NON_SUPERUSER, lost_race, role_sql,
    run_retrying, sqlstate,
};
use crate::backend::contention::Sessions;
use crate::backend::scram::ScramVerifier;
use crate::backend::{BackendError, DbIdent, Login, TenantDatabase};

impl PostgresBackend {
    pub(super) fn role<'a>(&self, db: &'a TenantDatabase) -> Result<&'a DbIdent, BackendError> {
        db.role.as_ref().ok_or_else(|| BackendError::Failed {
            action: "resolve tenant role",
            message: format!("PostgreSQL tenant database {} has no role", db.name),
        })
    }

    /// [`DatabaseBackend::ensure_role`](crate::backend::DatabaseBackend::ensure_role).
    pub(super) async fn converge_role(
        &self,
        db: &TenantDatabase,
        password: &SecretString,
        connection_limit: i32,
    ) -> Result<(), BackendError> {
        let role = self.role(db)?;
        let verifier = ScramVerifier::for_random_password(password);
        let mut conn = self.conn().await?;
        let (exists, superuser): (bool, bool) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1), \
                    (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)",
        )
        .bind(role.as_str())
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| self.error("look up role", e))?;
        let mut created = false;
        if !exists {
            match run_retrying(
                &mut conn,
                &role_sql("CREATE", role, ROLE_ATTRIBUTES, connection_limit, &verifier),
            )
            .await
            {
                Ok(()) => created = true,
                Err(e) if lost_race(&e, "42710") => {}
                Err(e) => return Err(self.error("create role", e)),
            }
        }
        if !created {
            let attributes = if superuser {
                ROLE_ATTRIBUTES
            } else {
                ROLE_ATTRIBUTES_NON_SUPERUSER
            };
            run_retrying(
                &mut conn,
                &role_sql("ALTER", role, attributes, connection_limit, &verifier),
            )
            .await
            .map_err(|e| self.error("alter role", e))?;
        }
        if !superuser {
            // A CREATEROLE admin can only make the role a database owner, drop that database
            // and end the role's sessions as a member of it. Granting twice is a no-op.
            run_retrying(
                &mut conn,
                &format!("GRANT {} TO CURRENT_USER", role.quoted()),
            )
            .await
            .map_err(|e| self.error("grant role to admin", e))?;
        }
        Ok(())
    }

    /// [`DatabaseBackend::set_login`](crate::backend::DatabaseBackend::set_login).
    pub(super) async fn alter_login(
        &self,
        db: &TenantDatabase,
        login: Login,
    ) -> Result<(), BackendError> {
        let role = self.role(db)?;
        let mut conn = self.conn().await?;
        match login {
            Login::Allowed => {
                run_retrying(&mut conn, &format!("ALTER ROLE {} LOGIN", role.quoted()))
                    .await
                    .map_err(|e| self.error("allow login", e))
            }
            Login::Refused => {
                run_retrying(&mut conn, &format!("ALTER ROLE {} NOLOGIN", role.quoted()))
                    .await
                    .map_err(|e| self.error("refuse login", e))?;
                self.terminate(&mut conn, Sessions::OfRole(role)).await
            }
        }
    }

    /// [`DatabaseBackend::drop_role`](crate::backend::DatabaseBackend::drop_role).
    pub(super) async fn drop_tenant_role(&self, db: &TenantDatabase) -> Result<(), BackendError> {
        let Some(role) = &db.role else { return Ok(()) };
        let mut conn = self.conn().await?;
        run_retrying(&mut conn, &format!("DROP ROLE IF EXISTS {}", role.quoted()))
            .await
            .map_err(|e| match sqlstate(&e).as_deref() {
                // dependent_objects_still_exist: its database was not dropped first.
                Some("2BP01") => BackendError::Failed {
                    action: "drop role",
                    message: format!(
                        "role {role} still owns objects; drop database {} first",
                        db.name
                    ),
                },
                _ => self.error("drop role", e),
            })
    }
}
