//! `[domains]`: how a tenant's custom domain is proved (a TXT record looked up over DNS) and how
//! many a tenant may hold.

use std::net::{IpAddr, SocketAddr};

use serde::Deserialize;

use super::SettingsError;

/// Validated `[domains]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainSettings {
    /// How long one verification may wait for DNS before it answers "DNS timed out".
    pub lookup_timeout_ms: u64,
    /// The resolvers asked, in order; empty = the system's (`/etc/resolv.conf`).
    pub nameservers: Vec<SocketAddr>,
    /// Custom domains one tenant may hold, verified or not.
    pub max_per_tenant: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDomains {
    lookup_timeout_ms: u64,
    nameservers: Vec<String>,
    max_per_tenant: u32,
}

pub(super) const DEFAULTS: &str = r#"
[domains]
lookup_timeout_ms = 3000
nameservers = []
max_per_tenant = 20
"#;

/// The longest a verification may be told to wait: it holds an admin request open meanwhile.
const MAX_LOOKUP_TIMEOUT_MS: u64 = 60_000;

impl DomainSettings {
    pub(super) fn validate(raw: RawDomains) -> Result<Self, SettingsError> {
        if !(1..=MAX_LOOKUP_TIMEOUT_MS).contains(&raw.lookup_timeout_ms) {
            return Err(SettingsError::invalid(
                "domains.lookup_timeout_ms",
                format!("must be 1–{MAX_LOOKUP_TIMEOUT_MS}"),
            ));
        }
        if !(1..=10_000).contains(&raw.max_per_tenant) {
            return Err(SettingsError::invalid(
                "domains.max_per_tenant",
                "must be 1–10000",
            ));
        }
        let nameservers = raw
            .nameservers
            .iter()
            .map(|s| nameserver(s.trim()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|m| SettingsError::invalid("domains.nameservers", m))?;
        Ok(Self {
            lookup_timeout_ms: raw.lookup_timeout_ms,
            nameservers,
            max_per_tenant: raw.max_per_tenant,
        })
    }
}

/// `ip:port`, `[v6]:port`, or a bare address (port 53).
fn nameserver(raw: &str) -> Result<SocketAddr, String> {
    raw.parse::<SocketAddr>()
        .or_else(|_| raw.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
        .map_err(|_| {
            format!("{raw:?} is not a nameserver address such as 10.0.0.2:53 or [2001:db8::53]:53")
        })
}
