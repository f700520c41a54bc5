use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::json;
use tenantry_core::ServerName;
use tenantry_provision::backend::BackendError;
use tenantry_provision::backend::postgres::PostgresBackend;
use tenantry_registry::entity::db_server;
use tenantry_registry::{AuditEntry, NewServer, ServerDialect};

use crate::cli::ServersCommand;
use crate::context::Context;
use crate::error::CliError;
use crate::output;

pub async fn run(ctx: &Context, cmd: ServersCommand) -> Result<(), CliError> {
    match cmd {
        ServersCommand::Add {
            name,
            url,
            password_stdin,
            capacity,
            no_check,
            output: flags,
        } => {
            let name = ServerName::parse(&name).map_err(|e| CliError::usage("NAME", e))?;
            let url = admin_url_without_password(&url)?;
            let admin_password = password_stdin
                .then(|| output::secret_from_stdin("--password-stdin"))
                .transpose()?;
            if !no_check {
                let with_password = with_password(&url, admin_password.as_ref())?;
                check_server(name.as_str(), &with_password)
                    .await
                    .map_err(|e| {
                        CliError::Failed(format!(
                            "server {name}: {e} (use --no-check to register it anyway)"
                        ))
                    })?;
            }
            let registry = ctx.registry().await?;
            let server = registry
                .add_server(NewServer {
                    name,
                    dialect: ServerDialect::Postgres,
                    url: url.to_string(),
                    admin_password,
                    capacity,
                })
                .await?;
            registry
                .audit(AuditEntry {
                    actor: output::cli_actor(),
                    action: "server.add",
                    tenant_id: None,
                    ip: None,
                    detail: json!({ "server_id": server.id, "name": server.name, "url": server.url }),
                })
                .await?;
            if flags.json {
                output::json(&ServerView::from(&server));
            } else {
                println!("registered server {} ({})", server.name, server.url);
            }
            Ok(())
        }
        ServersCommand::List(flags) => {
            let servers = ctx.registry().await?.list_servers().await?;
            let views: Vec<ServerView> = servers.iter().map(ServerView::from).collect();
            if flags.json {
                output::json(&views);
            } else {
                let rows: Vec<Vec<String>> = views
                    .iter()
                    .map(|s| {
                        vec![
                            s.name.clone(),
                            s.url.clone(),
                            s.capacity.to_string(),
                            s.state.clone(),
                            s.secret_key_id.clone().unwrap_or_else(|| "-".into()),
                        ]
                    })
                    .collect();
                output::table(&["NAME", "URL", "CAPACITY", "STATE", "SECRET KEY"], &rows);
            }
            Ok(())
        }
    }
}

/// What operators see of a server: never the secret, only which key sealed it.
#[derive(Serialize)]
struct ServerView {
    id: String,
    name: String,
    dialect: String,
    url: String,
    capacity: i32,
    state: String,
    has_secret: bool,
    secret_key_id: Option<String>,
}

impl From<&db_server::Model> for ServerView {
    fn from(s: &db_server::Model) -> Self {
        use sea_orm::ActiveEnum;
        Self {
            id: s.id.to_string(),
            name: s.name.clone(),
            dialect: s.dialect.to_value(),
            url: s.url.clone(),
            capacity: s.capacity,
            state: s.state.to_value(),
            has_secret: s.admin_secret.is_some(),
            secret_key_id: s.admin_secret_key_id.clone(),
        }
    }
}

/// Parses `--url`, refusing a password in it: the URL is stored as-is, so a password there
/// would land in the master in plaintext.
fn admin_url_without_password(raw: &str) -> Result<url::Url, CliError> {
    let url = url::Url::parse(raw)
        .map_err(|e| CliError::usage("--url", format!("not a valid URL ({e})")))?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Err(CliError::usage(
            "--url",
            "must be postgres://ADMIN@HOST:PORT[/DB] (SQLite tenants need no server: they live under data_dir)",
        ));
    }
    if url.password().is_some() {
        return Err(CliError::usage(
            "--url",
            "must not contain a password: pass it on standard input with --password-stdin (it is stored encrypted)",
        ));
    }
    if url.host_str().is_none_or(str::is_empty) || url.username().is_empty() {
        return Err(CliError::usage(
            "--url",
            "needs an admin user and a host: postgres://ADMIN@HOST:PORT",
        ));
    }
    Ok(url)
}

fn with_password(
    url: &url::Url,
    password: Option<&SecretString>,
) -> Result<SecretString, CliError> {
    let mut url = url.clone();
    if let Some(password) = password {
        url.set_password(Some(password.expose_secret()))
            .map_err(|()| CliError::usage("--url", "cannot carry a password"))?;
    }
    Ok(SecretString::from(url.to_string()))
}

/// Connects as the server's admin — one attempt, given up after `postgres::CONNECT_TIMEOUT` — and checks
/// it may create databases and roles. A failure names its cause (refused, timed out,
/// authentication, missing database, DNS, TLS) and never includes the URL (it holds the password).
pub async fn check_server(name: &str, url: &SecretString) -> Result<String, String> {
    let backend = PostgresBackend::new(name, url).map_err(|e| e.to_string())?;
    backend.check().await.map_err(|e| match e {
        BackendError::Unreachable { message, .. } => format!("cannot connect: {message}"),
        other => other.to_string(),
    })
}
