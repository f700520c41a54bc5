use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set, TransactionTrait,
};
use secrecy::{ExposeSecret, SecretString};
use tenantry_core::ids::{DbServerId, ServerName};
use tenantry_core::vault::SecretContext;

use crate::entity::db_server;
use crate::{AuditEntry, Registry, RegistryError, Server, ServerDialect, ServerState};

/// A database server to register. `url` must not carry the password: it goes in
/// `admin_password` and is stored sealed.
#[derive(Debug)]
pub struct NewServer {
    pub name: ServerName,
    pub dialect: ServerDialect,
    pub url: String,
    pub admin_password: Option<SecretString>,
    pub capacity: i32,
}

/// The vault context of a server's admin password: bound to the row and the field.
pub fn admin_secret_context(id: DbServerId) -> SecretContext {
    SecretContext::new("db_servers", id, "admin_password")
}

impl Registry {
    /// Registers a server, with its audit row (`detail.server_id` is set to the new id) in the
    /// same transaction. Name taken → `Conflict`.
    pub async fn add_server(
        &self,
        new: NewServer,
        mut audit: AuditEntry,
    ) -> Result<Server, RegistryError> {
        let id = DbServerId::new();
        let sealed = new
            .admin_password
            .as_ref()
            .map(|password| self.vault.seal(password, &admin_secret_context(id)))
            .transpose()?;
        if let Some(detail) = audit.detail.as_object_mut() {
            detail.insert("server_id".into(), id.to_string().into());
        }
        let now = Utc::now();
        let txn = self.db.begin().await?;
        let server = db_server::ActiveModel {
            id: Set(id.as_uuid()),
            name: Set(new.name.as_str().to_owned()),
            dialect: Set(new.dialect),
            url: Set(new.url),
            admin_secret_key_id: Set(sealed.as_ref().map(|s| s.key_id().to_string())),
            admin_secret: Set(sealed.map(|s| s.as_str().to_owned())),
            capacity: Set(new.capacity),
            state: Set(ServerState::Active),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await
        .map_err(|e| RegistryError::conflict_or_db(e, || format!("server {}", new.name)))?;
        crate::audit::insert(&txn, audit).await?;
        txn.commit().await?;
        Ok(server.into())
    }

    /// Sets a server's state (`draining` takes no new tenants), with its audit row, in one
    /// transaction. Unknown server → `NotFound`.
    pub async fn set_server_state(
        &self,
        name: &ServerName,
        state: ServerState,
        audit: AuditEntry,
    ) -> Result<Server, RegistryError> {
        let txn = self.db.begin().await?;
        let updated = db_server::Entity::update_many()
            .col_expr(db_server::Column::State, Expr::value(state))
            .col_expr(db_server::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(db_server::Column::Name.eq(name.as_str()))
            .exec(&txn)
            .await?;
        if updated.rows_affected == 0 {
            return Err(RegistryError::NotFound {
                what: format!("server {name}"),
            });
        }
        let server = db_server::Entity::find()
            .filter(db_server::Column::Name.eq(name.as_str()))
            .one(&txn)
            .await?
            .ok_or_else(|| RegistryError::NotFound {
                what: format!("server {name}"),
            })?;
        crate::audit::insert(&txn, audit).await?;
        txn.commit().await?;
        Ok(server.into())
    }

    /// Every registered server, by name.
    pub async fn list_servers(&self) -> Result<Vec<Server>, RegistryError> {
        Ok(db_server::Entity::find()
            .order_by_asc(db_server::Column::Name)
            .all(&self.db)
            .await?
            .into_iter()
            .map(Server::from)
            .collect())
    }

    /// The server named `name`; unknown → `NotFound`.
    pub async fn server_by_name(&self, name: &ServerName) -> Result<Server, RegistryError> {
        db_server::Entity::find()
            .filter(db_server::Column::Name.eq(name.as_str()))
            .one(&self.db)
            .await?
            .map(Server::from)
            .ok_or_else(|| RegistryError::NotFound {
                what: format!("server {name}"),
            })
    }

    /// Opens the server's sealed admin password, if it has one.
    pub fn server_admin_password(
        &self,
        server: &Server,
    ) -> Result<Option<SecretString>, RegistryError> {
        server
            .admin_secret
            .0
            .as_deref()
            .map(|sealed| self.vault.open(sealed, &admin_secret_context(server.id)))
            .transpose()
            .map_err(Into::into)
    }
}

impl Registry {
    /// The server's connection URL with its admin password put back in: for connecting only,
    /// never for printing or storing.
    pub fn server_connect_url(&self, server: &Server) -> Result<SecretString, RegistryError> {
        let mut url = url::Url::parse(&server.url).map_err(|e| RegistryError::Invalid {
            what: format!("stored URL of server {}: {e}", server.name),
        })?;
        if let Some(password) = self.server_admin_password(server)? {
            url.set_password(Some(password.expose_secret()))
                .map_err(|()| RegistryError::Invalid {
                    what: format!(
                        "stored URL of server {} cannot hold a password",
                        server.name
                    ),
                })?;
        }
        Ok(SecretString::from(url.to_string()))
    }
}

impl Registry {
    /// The server with this id; unknown → `NotFound`.
    pub async fn server(&self, id: DbServerId) -> Result<Server, RegistryError> {
        db_server::Entity::find_by_id(id.as_uuid())
            .one(&self.db)
            .await?
            .map(Server::from)
            .ok_or_else(|| RegistryError::NotFound {
                what: format!("server {id}"),
            })
    }
}
