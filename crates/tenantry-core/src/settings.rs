//! Layered settings: built-in defaults → optional TOML file → `TENANTRY__SECTION__KEY` environment.
//!
//! Everything is validated once, at start, into typed values; an invalid value fails with a
//! [`SettingsError`] naming the key and what is allowed. Secrets (the master URL may carry a
//! password; the master key) are [`SecretString`]s and never appear in `Debug` or errors.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use config::{Config, Environment, File, FileFormat};
use secrecy::SecretString;

mod backups;
mod database_url;
mod domains;
mod provision;
mod raw;
mod validate;
pub use backups::{BackupSettings, KeepPolicy, S3Settings};
pub use database_url::DatabaseUrl;
pub use domains::DomainSettings;
pub use provision::ProvisionSettings;

use raw::{DEFAULTS, Raw};

/// Environment variable holding the master key ring (base64 keys, current first).
pub const MASTER_KEY_ENV: &str = "TENANTRY_MASTER_KEY";
/// Environment variable naming the settings file (same as `--config`).
pub const CONFIG_ENV: &str = "TENANTRY_CONFIG";
/// File name of the generated key in the embedded default.
pub const GENERATED_KEY_FILE: &str = "master.key";

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("settings file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("setting `{key}`: {message}")]
    Invalid { key: &'static str, message: String },
    #[error("settings: {0}")]
    Parse(String),
}

impl SettingsError {
    fn invalid(key: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            key,
            message: message.into(),
        }
    }
}

/// Validated settings. Construct with [`Settings::load`] (or [`Settings::embedded_default`]).
#[derive(Debug, Clone)]
pub struct Settings {
    pub server: ServerSettings,
    pub master: MasterSettings,
    pub data_dir: PathBuf,
    pub security: SecuritySettings,
    pub pool: PoolSettings,
    pub log: LogSettings,
    pub tenants: TenantSettings,
    pub registry: RegistrySettings,
    pub domains: DomainSettings,
    pub backups: BackupSettings,
    pub provision: ProvisionSettings,
    /// The file the settings came from, if any (`None` = embedded default + environment).
    pub file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    /// Lowercase, no trailing dot. `acme.<base_domain>` reaches tenant `acme`.
    pub base_domain: String,
    /// Whether the `X-Tenant-Id` header may select a tenant (off by default).
    pub tenant_header: bool,
    /// Deadline for reading a whole request (head and body); a slower client gets 408.
    pub request_timeout_ms: u64,
    /// Peers whose `X-Forwarded-For` is believed (addresses or CIDR blocks); empty by default,
    /// so the client address is the socket's.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// HTTP worker threads, each its own single-threaded runtime; `0` in the file means one per
    /// CPU.
    pub workers: usize,
}

#[derive(Debug, Clone)]
pub struct MasterSettings {
    pub url: DatabaseUrl,
}

#[derive(Debug, Clone)]
pub struct SecuritySettings {
    pub master_key_file: Option<PathBuf>,
    /// From `TENANTRY_MASTER_KEY` only; never read from a file.
    pub master_key: Option<SecretString>,
    /// Login attempts (right or wrong) allowed per client address per minute.
    pub login_attempts_per_ip_per_minute: u32,
    /// Login attempts allowed per account (tenant + email) per minute.
    pub login_attempts_per_account_per_minute: u32,
    /// Threads that check passwords (argon2id, ~19 MiB each); `0` in the file means one per core.
    pub password_hash_workers: usize,
    /// Password checks allowed to wait for a worker; beyond it a login gets 503 `busy`.
    pub password_hash_queue: usize,
}

#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_cached_tenants: u64,
    pub idle_ttl_secs: u64,
    pub acquire_timeout_ms: u64,
    pub server_connection_budget: u32,
    /// Deadline for one statement on a tenant connection (client side, and `statement_timeout`
    /// on PostgreSQL): a dead or black-holed database answers 503 by then.
    pub query_timeout_ms: u64,
}

/// How a `serve` keeps its view of the master current.
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    /// How often the change feed is polled (PostgreSQL also gets LISTEN/NOTIFY).
    pub poll_interval_ms: u64,
    /// How long tenants already known are served from their last known state while the master
    /// is unreachable; after that their requests get 503.
    pub max_stale_secs: u64,
}

#[derive(Debug, Clone, Default)]
pub struct TenantSettings {
    /// Subdomains refused in addition to the built-in list (`crate::ids::RESERVED_SUBDOMAINS`).
    pub reserved_subdomains: Vec<String>,
    /// How often `serve` measures tenant databases against their storage limits (seconds;
    /// 0 = never, and no tenant's writes are ever refused for size).
    pub storage_check_every_secs: u64,
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    pub format: LogFormat,
    /// An `EnvFilter` directive such as `info` or `info,tenantry=debug`; `RUST_LOG` overrides it.
    pub level: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Where the key ring comes from, in order of precedence.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// `TENANTRY_MASTER_KEY`.
    Env(SecretString),
    /// `security.master_key_file`.
    File(PathBuf),
    /// Embedded default only: `<data_dir>/master.key`, generated on first use.
    Generated(PathBuf),
}

impl Settings {
    /// Defaults → `file` (if given) → `TENANTRY__*` environment → `TENANTRY_MASTER_KEY`.
    pub fn load(file: Option<&Path>) -> Result<Self, SettingsError> {
        Self::load_from(file, std::env::vars())
    }

    /// The embedded default with no environment applied (tests, docs).
    pub fn embedded_default() -> Self {
        Self::load_from(None, std::iter::empty()).expect("built-in defaults are valid")
    }

    /// Like [`Settings::load`], with the environment passed in (so tests need not mutate it).
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        let env: std::collections::HashMap<String, String> = env.into_iter().collect();
        let mut builder = Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .add_source(File::from_str(domains::DEFAULTS, FileFormat::Toml))
            .add_source(File::from_str(provision::DEFAULTS, FileFormat::Toml))
            .add_source(File::from_str(backups::DEFAULTS, FileFormat::Toml));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(SettingsError::File {
                    path: path.to_owned(),
                    message: "no such file".into(),
                });
            }
            builder = builder.add_source(File::from(path).format(FileFormat::Toml));
        }
        builder = builder.add_source(
            Environment::with_prefix("TENANTRY")
                .separator("__")
                .list_separator(",")
                .with_list_parse_key("tenants.reserved_subdomains")
                .with_list_parse_key("server.trusted_proxies")
                .with_list_parse_key("domains.nameservers")
                .try_parsing(true)
                .source(Some(env.clone().into_iter().collect())),
        );
        let raw: Raw = builder
            .build()
            .and_then(Config::try_deserialize)
            .map_err(|e| match (file, e) {
                (Some(path), config::ConfigError::FileParse { cause, .. }) => SettingsError::File {
                    path: path.to_owned(),
                    message: cause.to_string(),
                },
                (_, e) => SettingsError::Parse(e.to_string()),
            })?;
        let master_key = env
            .get(MASTER_KEY_ENV)
            .filter(|v| !v.trim().is_empty())
            .map(|v| SecretString::from(v.clone()));
        Self::validate(raw, master_key, file)
    }

    /// Where the master key ring comes from. A key is generated only for a SQLite master (the
    /// embedded default): a PostgreSQL master without a configured key is a configuration error,
    /// because a silently generated key on one host would make secrets unreadable on the next.
    pub fn key_source(&self) -> Result<KeySource, SettingsError> {
        if let Some(key) = &self.security.master_key {
            return Ok(KeySource::Env(key.clone()));
        }
        if let Some(path) = &self.security.master_key_file {
            return Ok(KeySource::File(path.clone()));
        }
        match self.master.url {
            DatabaseUrl::Sqlite(_) => {
                Ok(KeySource::Generated(self.data_dir.join(GENERATED_KEY_FILE)))
            }
            DatabaseUrl::Postgres(_) => Err(SettingsError::invalid(
                "security.master_key_file",
                format!(
                    "a PostgreSQL master needs a master key: set {MASTER_KEY_ENV} (base64, 32 bytes) or security.master_key_file"
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests;
