//! `[provision]`: warm spares, PostgreSQL databases created and migrated ahead of demand so that
//! a tenant creation only claims one.

use serde::Deserialize;

use super::SettingsError;

/// Validated `[provision]` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProvisionSettings {
    /// Ready spares `serve` keeps on each active PostgreSQL server (0 = none).
    pub spares: u32,
    /// Spares built at once, all servers together.
    pub spare_concurrency: u32,
    /// How often `serve` looks for spares to build or drop.
    pub spare_check_every_secs: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProvision {
    spares: u32,
    spare_concurrency: u32,
    spare_check_every_secs: u64,
}

pub(super) const DEFAULTS: &str = r#"
[provision]
spares = 0
spare_concurrency = 2
spare_check_every_secs = 5
"#;

/// Each spare is a database and a role on the server: more than this is a typo, not a pool.
const MAX_SPARES: u32 = 100;

impl ProvisionSettings {
    pub(super) fn validate(raw: RawProvision) -> Result<Self, SettingsError> {
        if raw.spares > MAX_SPARES {
            return Err(SettingsError::invalid(
                "provision.spares",
                format!("must be 0–{MAX_SPARES} (0 = no warm spares)"),
            ));
        }
        if !(1..=16).contains(&raw.spare_concurrency) {
            return Err(SettingsError::invalid(
                "provision.spare_concurrency",
                "must be 1–16",
            ));
        }
        if !(1..=3600).contains(&raw.spare_check_every_secs) {
            return Err(SettingsError::invalid(
                "provision.spare_check_every_secs",
                "must be 1–3600",
            ));
        }
        Ok(Self {
            spares: raw.spares,
            spare_concurrency: raw.spare_concurrency,
            spare_check_every_secs: raw.spare_check_every_secs,
        })
    }
}
