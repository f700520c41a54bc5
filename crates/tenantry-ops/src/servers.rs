//! Database servers that host tenant databases: registering (after a live check), listing,
//! draining.

use secrecy::{ExposeSecret as _, SecretString};
use serde::Serialize;
use serde_json::json;
use tenantry_core::{DbServerId, ServerName};
use tenantry_provision::backend::BackendError;
use tenantry_provision::backend::postgres::PostgresBackend;
use tenantry_registry::{NewServer, Server, ServerDialect, ServerState};

use crate::{Caller, Operator, OpsError, Permission};

/// What callers see of a server: never its secret, only which key sealed it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ServerView {
    #[schema(value_type = String, format = "uuid")]
    pub id: DbServerId,
    pub name: String,
    pub dialect: ServerDialect,
    /// `postgres://ADMIN@HOST:PORT[/DB]`, without a password.
    pub url: String,
    /// The most tenant databases it holds.
    pub capacity: i32,
    pub state: ServerState,
    /// Whether an admin password is stored (sealed) for it.
    pub has_secret: bool,
    /// The id of the key that sealed it.
    pub secret_key_id: Option<String>,
}

impl From<&Server> for ServerView {
    fn from(s: &Server) -> Self {
        Self {
            id: s.id,
            name: s.name.to_string(),
            dialect: s.dialect,
            url: s.url.clone(),
            capacity: s.capacity,
            state: s.state,
            has_secret: s.has_admin_password(),
            secret_key_id: s.admin_secret_key_id.clone(),
        }
    }
}

/// A server to register, as typed by a caller.
#[derive(Debug)]
pub struct NewServerRequest {
    pub name: String,
    /// `postgres://ADMIN@HOST:PORT[/DB]`, without a password.
    pub url: String,
    pub admin_password: Option<SecretString>,
    pub capacity: i32,
    /// Register without connecting first.
    pub skip_check: bool,
}

impl Operator {
    pub async fn list_servers(&self, caller: &Caller) -> Result<Vec<ServerView>, OpsError> {
        caller.require(Permission::Read)?;
        let servers = self.registry().list_servers().await?;
        Ok(servers.iter().map(ServerView::from).collect())
    }

    /// Registers a PostgreSQL server, after checking (unless skipped) that its admin can
    /// connect and create databases and roles.
    pub async fn add_server(
        &self,
        caller: &Caller,
        req: NewServerRequest,
    ) -> Result<ServerView, OpsError> {
        caller.require(Permission::Servers)?;
        let (name, url) = checked_request(&req)?;
        if !req.skip_check {
            probe(&name, &url, req.admin_password.as_ref())
                .await?
                .map_err(|e| OpsError::invalid("url", format!("server {name}: {e}")))?;
        }
        let detail = json!({ "name": name.as_str(), "url": url.as_str() });
        let server = self
            .registry()
            .add_server(
                NewServer {
                    name,
                    dialect: ServerDialect::Postgres,
                    url: url.to_string(),
                    admin_password: req.admin_password,
                    capacity: req.capacity,
                },
                caller.audit("server.add", None, detail),
            )
            .await?;
        Ok(ServerView::from(&server))
    }

    /// Runs the check `add_server` runs before registering (the request is validated first),
    /// without registering anything. `Ok(Err(cause))`: the check ran and failed; the cause names
    /// neither the URL nor the password.
    pub async fn check_new_server(
        &self,
        caller: &Caller,
        req: &NewServerRequest,
    ) -> Result<Result<(), String>, OpsError> {
        caller.require(Permission::Servers)?;
        let (name, url) = checked_request(req)?;
        probe(&name, &url, req.admin_password.as_ref()).await
    }

    /// Sets a server's state: `draining` takes no new tenants, `active` takes them again.
    pub async fn set_server_state(
        &self,
        caller: &Caller,
        name: &str,
        state: ServerState,
    ) -> Result<ServerView, OpsError> {
        caller.require(Permission::Servers)?;
        let name = ServerName::parse(name).map_err(|e| OpsError::invalid("name", e))?;
        let detail = json!({ "name": name.as_str(), "state": state });
        let server = self
            .registry()
            .set_server_state(&name, state, caller.audit("server.state", None, detail))
            .await?;
        Ok(ServerView::from(&server))
    }
}

/// The request's name and URL, validated with its capacity.
fn checked_request(req: &NewServerRequest) -> Result<(ServerName, url::Url), OpsError> {
    let name = ServerName::parse(&req.name).map_err(|e| OpsError::invalid("name", e))?;
    let url = admin_url_without_password(&req.url)?;
    if !(1..=1_000_000).contains(&req.capacity) {
        return Err(OpsError::invalid("capacity", "must be 1–1000000"));
    }
    Ok((name, url))
}

async fn probe(
    name: &ServerName,
    url: &url::Url,
    password: Option<&SecretString>,
) -> Result<Result<(), String>, OpsError> {
    let with_password = with_password(url, password)?;
    Ok(check_server(name.as_str(), &with_password).await.map(drop))
}

/// Parses an admin URL, refusing a password in it: the URL is stored as-is, so a password there
/// would land in the master in plaintext.
fn admin_url_without_password(raw: &str) -> Result<url::Url, OpsError> {
    let invalid = |m: &str| OpsError::invalid("url", m);
    let url = url::Url::parse(raw).map_err(|e| invalid(&format!("not a valid URL ({e})")))?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Err(invalid(
            "must be postgres://ADMIN@HOST:PORT[/DB] (SQLite tenants need no server: they live under data_dir)",
        ));
    }
    if url.password().is_some() {
        return Err(invalid(
            "must not contain a password: pass it separately (it is stored encrypted)",
        ));
    }
    if url.host_str().is_none_or(str::is_empty) || url.username().is_empty() {
        return Err(invalid(
            "needs an admin user and a host: postgres://ADMIN@HOST:PORT",
        ));
    }
    Ok(url)
}

fn with_password(
    url: &url::Url,
    password: Option<&SecretString>,
) -> Result<SecretString, OpsError> {
    let mut url = url.clone();
    if let Some(password) = password {
        url.set_password(Some(password.expose_secret()))
            .map_err(|()| OpsError::invalid("url", "cannot carry a password"))?;
    }
    Ok(SecretString::from(url.to_string()))
}

/// Connects as the server's admin — one attempt, bounded by the backend's connect timeout — and
/// checks it may create databases and roles. A failure names its cause (refused, timed out,
/// authentication, missing database, DNS, TLS), never the URL (it holds the password).
pub async fn check_server(name: &str, url: &SecretString) -> Result<String, String> {
    let backend = PostgresBackend::new(name, url).map_err(|e| e.to_string())?;
    backend.check().await.map_err(|e| match e {
        BackendError::Unreachable { message, .. } => format!("cannot connect: {message}"),
        other => other.to_string(),
    })
}
