//! The raw settings as deserialised from the layered sources, and the embedded defaults.

use serde::Deserialize;

use super::{backups, domains, provision};

// ---- raw, as deserialised from the layered sources -------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Raw {
    pub(super) server: RawServer,
    pub(super) master: RawMaster,
    pub(super) data_dir: String,
    pub(super) security: RawSecurity,
    pub(super) pool: RawPool,
    pub(super) log: RawLog,
    pub(super) tenants: RawTenants,
    pub(super) registry: RawRegistry,
    pub(super) domains: domains::RawDomains,
    pub(super) backups: backups::RawBackups,
    pub(super) provision: provision::RawProvision,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRegistry {
    pub(super) poll_interval_ms: u64,
    pub(super) max_stale_secs: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTenants {
    pub(super) reserved_subdomains: Vec<String>,
    pub(super) storage_check_every_secs: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    pub(super) listen: String,
    pub(super) base_domain: String,
    pub(super) tenant_header: bool,
    pub(super) request_timeout_ms: u64,
    pub(super) trusted_proxies: Vec<String>,
    pub(super) workers: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMaster {
    pub(super) url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSecurity {
    pub(super) master_key_file: Option<String>,
    pub(super) login_attempts_per_ip_per_minute: u32,
    pub(super) login_attempts_per_account_per_minute: u32,
    pub(super) password_hash_workers: usize,
    pub(super) password_hash_queue: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPool {
    pub(super) max_cached_tenants: u64,
    pub(super) idle_ttl_secs: u64,
    pub(super) acquire_timeout_ms: u64,
    pub(super) server_connection_budget: u32,
    pub(super) query_timeout_ms: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    pub(super) format: String,
    pub(super) level: String,
}

pub(super) const DEFAULTS: &str = r#"
data_dir = "./tenantry-data"

[server]
listen = "127.0.0.1:8080"
base_domain = "localhost"
tenant_header = false
request_timeout_ms = 10000
trusted_proxies = []
workers = 0

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
