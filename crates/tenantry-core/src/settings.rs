//! Layered settings: built-in defaults → optional TOML file → `TENANTRY__SECTION__KEY` environment.
//!
//! Everything is validated once, at start, into typed values; an invalid value fails with a
//! [`SettingsError`] naming the key and what is allowed. Secrets (the master URL may carry a
//! password; the master key) are [`SecretString`]s and never appear in `Debug` or errors.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use config::{Config, Environment, File, FileFormat};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

mod backups;
mod domains;
mod provision;
pub use backups::{BackupSettings, KeepPolicy, S3Settings};
pub use domains::DomainSettings;
pub use provision::ProvisionSettings;

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

// ---- raw, as deserialised from the layered sources -------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    server: RawServer,
    master: RawMaster,
    data_dir: String,
    security: RawSecurity,
    pool: RawPool,
    log: RawLog,
    tenants: RawTenants,
    registry: RawRegistry,
    domains: domains::RawDomains,
    backups: backups::RawBackups,
    provision: provision::RawProvision,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistry {
    poll_interval_ms: u64,
    max_stale_secs: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenants {
    reserved_subdomains: Vec<String>,
    storage_check_every_secs: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: String,
    base_domain: String,
    tenant_header: bool,
    request_timeout_ms: u64,
    trusted_proxies: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMaster {
    url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecurity {
    master_key_file: Option<String>,
    login_attempts_per_ip_per_minute: u32,
    login_attempts_per_account_per_minute: u32,
    password_hash_workers: usize,
    password_hash_queue: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPool {
    max_cached_tenants: u64,
    idle_ttl_secs: u64,
    acquire_timeout_ms: u64,
    server_connection_budget: u32,
    query_timeout_ms: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    format: String,
    level: String,
}

const DEFAULTS: &str = r#"
data_dir = "./tenantry-data"

[server]
listen = "127.0.0.1:8080"
base_domain = "localhost"
tenant_header = false
request_timeout_ms = 10000
trusted_proxies = []

[master]

[security]
login_attempts_per_ip_per_minute = 120
login_attempts_per_account_per_minute = 30
password_hash_workers = 0
password_hash_queue = 16

[pool]
max_cached_tenants = 1000
idle_ttl_secs = 300
acquire_timeout_ms = 2000
server_connection_budget = 80
query_timeout_ms = 10000

[registry]
poll_interval_ms = 250
max_stale_secs = 900

[log]
format = "pretty"
level = "info"

[tenants]
reserved_subdomains = []
storage_check_every_secs = 300
"#;

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

    fn validate(
        raw: Raw,
        master_key: Option<SecretString>,
        file: Option<&Path>,
    ) -> Result<Self, SettingsError> {
        let listen = raw.server.listen.parse::<SocketAddr>().map_err(|_| {
            SettingsError::invalid(
                "server.listen",
                format!(
                    "{:?} is not an address:port such as 127.0.0.1:8080",
                    raw.server.listen
                ),
            )
        })?;
        let base_domain = validate_domain(&raw.server.base_domain)
            .map_err(|m| SettingsError::invalid("server.base_domain", m))?;

        let storage_check_every_secs = raw.tenants.storage_check_every_secs;
        if storage_check_every_secs != 0 && !(10..=86_400).contains(&storage_check_every_secs) {
            return Err(SettingsError::invalid(
                "tenants.storage_check_every_secs",
                format!(
                    "{storage_check_every_secs} is not 0 (off) or between 10 and 86400 seconds"
                ),
            ));
        }
        if raw.data_dir.trim().is_empty() {
            return Err(SettingsError::invalid("data_dir", "must not be empty"));
        }
        let data_dir = PathBuf::from(&raw.data_dir);
        let url = match raw.master.url.as_deref() {
            None => DatabaseUrl::Sqlite(data_dir.join("master.db")),
            Some(raw) => {
                DatabaseUrl::parse(raw).map_err(|m| SettingsError::invalid("master.url", m))?
            }
        };

        let pool = raw.pool;
        for (key, value) in [
            ("pool.max_cached_tenants", pool.max_cached_tenants),
            ("pool.idle_ttl_secs", pool.idle_ttl_secs),
            ("pool.acquire_timeout_ms", pool.acquire_timeout_ms),
            (
                "pool.server_connection_budget",
                u64::from(pool.server_connection_budget),
            ),
            ("pool.query_timeout_ms", pool.query_timeout_ms),
            ("server.request_timeout_ms", raw.server.request_timeout_ms),
            ("registry.poll_interval_ms", raw.registry.poll_interval_ms),
            ("registry.max_stale_secs", raw.registry.max_stale_secs),
            (
                "security.login_attempts_per_ip_per_minute",
                u64::from(raw.security.login_attempts_per_ip_per_minute),
            ),
            (
                "security.login_attempts_per_account_per_minute",
                u64::from(raw.security.login_attempts_per_account_per_minute),
            ),
        ] {
            if value == 0 {
                return Err(SettingsError::invalid(key, "must be greater than 0"));
            }
        }

        let format = match raw.log.format.as_str() {
            "pretty" => LogFormat::Pretty,
            "json" => LogFormat::Json,
            other => {
                return Err(SettingsError::invalid(
                    "log.format",
                    format!("{other:?} is not one of: pretty, json"),
                ));
            }
        };
        tracing_subscriber::EnvFilter::try_new(&raw.log.level).map_err(|e| {
            SettingsError::invalid(
                "log.level",
                format!("{:?} is not a level or filter directive such as `info` or `info,tenantry=debug` ({e})", raw.log.level),
            )
        })?;

        let trusted_proxies = raw
            .server
            .trusted_proxies
            .iter()
            .map(|p| parse_net(p.trim()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|m| SettingsError::invalid("server.trusted_proxies", m))?;
        let password_hash_workers = match raw.security.password_hash_workers {
            0 => std::thread::available_parallelism().map_or(2, usize::from),
            n => n,
        };

        let domains = DomainSettings::validate(raw.domains)?;
        let provision = ProvisionSettings::validate(raw.provision)?;
        let backups = BackupSettings::validate(raw.backups)?;

        let master_key_file = raw
            .security
            .master_key_file
            .filter(|p| !p.trim().is_empty())
            .map(PathBuf::from);

        Ok(Self {
            server: ServerSettings {
                listen,
                base_domain,
                tenant_header: raw.server.tenant_header,
                request_timeout_ms: raw.server.request_timeout_ms,
                trusted_proxies,
            },
            master: MasterSettings { url },
            data_dir,
            security: SecuritySettings {
                master_key_file,
                master_key,
                login_attempts_per_ip_per_minute: raw.security.login_attempts_per_ip_per_minute,
                login_attempts_per_account_per_minute: raw
                    .security
                    .login_attempts_per_account_per_minute,
                password_hash_workers,
                password_hash_queue: raw.security.password_hash_queue,
            },
            pool: PoolSettings {
                max_cached_tenants: pool.max_cached_tenants,
                idle_ttl_secs: pool.idle_ttl_secs,
                acquire_timeout_ms: pool.acquire_timeout_ms,
                server_connection_budget: pool.server_connection_budget,
                query_timeout_ms: pool.query_timeout_ms,
            },
            registry: RegistrySettings {
                poll_interval_ms: raw.registry.poll_interval_ms,
                max_stale_secs: raw.registry.max_stale_secs,
            },
            domains,
            provision,
            backups,
            log: LogSettings {
                format,
                level: raw.log.level,
            },
            tenants: TenantSettings {
                reserved_subdomains: raw
                    .tenants
                    .reserved_subdomains
                    .into_iter()
                    .map(|s| s.trim().to_ascii_lowercase())
                    .filter(|s| !s.is_empty())
                    .collect(),
                storage_check_every_secs,
            },
            file: file.map(Path::to_owned),
        })
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

/// An address (`10.0.0.7`) or a CIDR block (`10.0.0.0/8`).
fn parse_net(raw: &str) -> Result<ipnet::IpNet, String> {
    raw.parse::<ipnet::IpNet>()
        .or_else(|_| raw.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{raw:?} is not an IP address or CIDR block such as 10.0.0.0/8"))
}

fn validate_domain(raw: &str) -> Result<String, String> {
    let domain = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    let ok = !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if ok {
        Ok(domain)
    } else {
        Err(format!(
            "{raw:?} is not a domain name such as localhost or example.com"
        ))
    }
}

#[cfg(test)]
mod tests;
