//! [`DatabaseUrl`]: a PostgreSQL or SQLite URL, kept secret when it may carry a password.

use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};

/// A database URL: PostgreSQL (may carry a password, hence secret) or a SQLite file.
#[derive(Debug, Clone)]
pub enum DatabaseUrl {
    Postgres(SecretString),
    Sqlite(PathBuf),
}

impl DatabaseUrl {
    /// Parses `postgres://…`, `postgresql://…`, `sqlite://PATH` or `sqlite:PATH`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if let Some(rest) = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
        {
            let path = rest.split('?').next().unwrap_or_default();
            if path.is_empty() || path == ":memory:" {
                return Err(
                    "a SQLite master needs a file path, e.g. sqlite://./tenantry-data/master.db"
                        .into(),
                );
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        // Errors must not echo `raw`: it may hold a password.
        let url = url::Url::parse(raw).map_err(|e| format!("not a valid URL ({e})"))?;
        match url.scheme() {
            "postgres" | "postgresql" if url.host_str().is_some_and(|h| !h.is_empty()) => {
                Ok(Self::Postgres(SecretString::from(raw.to_owned())))
            }
            "postgres" | "postgresql" => Err("a PostgreSQL URL needs a host".into()),
            other => Err(format!(
                "unsupported scheme {other:?}: expected postgres://, postgresql:// or sqlite://"
            )),
        }
    }

    /// The URL to hand to sqlx/sea-orm. SQLite files are created if missing.
    pub fn connect_url(&self) -> SecretString {
        match self {
            Self::Postgres(url) => url.clone(),
            Self::Sqlite(path) => {
                SecretString::from(format!("sqlite://{}?mode=rwc", path.display()))
            }
        }
    }

    /// Safe to print: the password, if any, is replaced by `***`.
    pub fn redacted(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("sqlite://{}", path.display()),
            Self::Postgres(url) => match url::Url::parse(url.expose_secret()) {
                Ok(mut u) => {
                    if u.password().is_some() {
                        let _ = u.set_password(Some("***"));
                    }
                    u.to_string()
                }
                Err(_) => "postgres://<unparsable>".into(),
            },
        }
    }
}
