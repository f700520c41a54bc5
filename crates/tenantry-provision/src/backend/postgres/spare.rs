//! Claiming a warm spare: its role and database take the tenant's names, its role the tenant's
//! password and connection limit.

use secrecy::SecretString;

use super::{PostgresBackend, role_sql, run_retrying};
use crate::backend::scram::ScramVerifier;
use crate::backend::{BackendError, TenantDatabase};

impl PostgresBackend {
    /// Renames `from`'s role and database to `to`'s names and gives the role `password` and
    /// `connection_limit`, in one simple-query message: its statements run as one transaction
    /// (one round trip, one commit), so the claim happens whole or not at all and never needs
    /// converging. PostgreSQL renames a database inside a transaction (it only refuses to create
    /// or drop one there). Ownership, grants and the admin's membership follow the objects' ids,
    /// not their names, so the spare's are the tenant's at once. Nobody is connected to a spare,
    /// so its database can be renamed.
    pub(super) async fn claim(
        &self,
        from: &TenantDatabase,
        to: &TenantDatabase,
        password: &SecretString,
        connection_limit: i32,
    ) -> Result<(), BackendError> {
        let (old, new) = (self.role(from)?, self.role(to)?);
        let verifier = ScramVerifier::for_random_password(password);
        let sql = format!(
            "ALTER ROLE {} RENAME TO {}; {}; ALTER DATABASE {} RENAME TO {}",
            old.quoted(),
            new.quoted(),
            role_sql("ALTER", new, "LOGIN", connection_limit, &verifier),
            from.name.quoted(),
            to.name.quoted(),
        );
        let mut conn = self.conn().await?;
        run_retrying(&mut conn, &sql)
            .await
            .map_err(|e| self.error("claim spare", e))
    }
}
