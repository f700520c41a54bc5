use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use secrecy::{ExposeSecret, SecretString};
use tenantry_core::ids::{DbServerId, ServerName};
use tenantry_core::vault::SecretContext;

use crate::entity::db_server;
use crate::{Registry, RegistryError, ServerDialect, ServerState};

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
    pub async fn add_server(&self, new: NewServer) -> Result<db_server::Model, RegistryError> {
        let id = DbServerId::new();
        let sealed = new
            .admin_password
            .as_ref()
            .map(|password| self.vault.seal(password, &admin_secret_context(id)))
            .transpose()?;
        let now = Utc::now();
        db_server::ActiveModel {
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
        .insert(&self.db)
        .await
        .map_err(|e| RegistryError::conflict_or_db(e, || format!("server {}", new.name)))
    }

    pub async fn list_servers(&self) -> Result<Vec<db_server::Model>, RegistryError> {
        Ok(db_server::Entity::find()
            .order_by_asc(db_server::Column::Name)
            .all(&self.db)
            .await?)
    }

    pub async fn server_by_name(
        &self,
        name: &ServerName,
    ) -> Result<db_server::Model, RegistryError> {
        db_server::Entity::find()
            .filter(db_server::Column::Name.eq(name.as_str()))
            .one(&self.db)
            .await?
            .ok_or_else(|| RegistryError::NotFound {
                what: format!("server {name}"),
            })
    }

    /// Opens the server's sealed admin password, if it has one.
    pub fn server_admin_password(
        &self,
        server: &db_server::Model,
    ) -> Result<Option<SecretString>, RegistryError> {
        server
            .admin_secret
            .as_deref()
            .map(|sealed| {
                self.vault
                    .open(sealed, &admin_secret_context(server.id.into()))
            })
            .transpose()
            .map_err(Into::into)
    }
}

impl Registry {
    /// The server's connection URL with its admin password put back in: for connecting only,
    /// never for printing or storing.
    pub fn server_connect_url(
        &self,
        server: &db_server::Model,
    ) -> Result<SecretString, RegistryError> {
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
    pub async fn server(&self, id: DbServerId) -> Result<db_server::Model, RegistryError> {
        db_server::Entity::find_by_id(id.as_uuid())
            .one(&self.db)
            .await?
            .ok_or_else(|| RegistryError::NotFound {
                what: format!("server {id}"),
            })
    }
}
