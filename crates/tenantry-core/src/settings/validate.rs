//! Validation of the raw settings into the typed [`Settings`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secrecy::SecretString;

use super::raw::Raw;
use super::{
    BackupSettings, DatabaseUrl, DomainSettings, LogFormat, LogSettings, MasterSettings,
    PoolSettings, ProvisionSettings, RegistrySettings, SecuritySettings, ServerSettings, Settings,
    SettingsError, TenantSettings,
};

/// More HTTP workers than this is a typo, not a machine.
const MAX_WORKERS: usize = 256;

impl Settings {
    pub(super) fn validate(
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
        let workers = match raw.server.workers {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n if n <= MAX_WORKERS => n,
            n => {
                return Err(SettingsError::invalid(
                    "server.workers",
                    format!("{n} is not 0 (one per CPU) or between 1 and {MAX_WORKERS}"),
                ));
            }
        };
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
                workers,
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
