//! `[backups]`: where tenant backups go, how often `serve` takes them and which it keeps.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

use super::SettingsError;

/// Validated `[backups]` settings.
#[derive(Debug, Clone)]
pub struct BackupSettings {
    /// A local directory (`None` = `<data_dir>/backups`) or `s3://bucket/prefix`.
    pub target: Option<String>,
    /// Seconds between two scheduled backups of a tenant; 0 = no scheduled backups.
    pub every_secs: u64,
    pub keep: KeepPolicy,
    /// Scheduled backups running at once in one `serve`.
    pub concurrency: usize,
    /// Up to this many seconds of random delay before each scheduler pass, so several `serve`
    /// processes (and a fleet of tenants) do not start together.
    pub jitter_secs: u64,
    pub include_suspended: bool,
    /// Days a deleted tenant's final backup keeps it recoverable.
    pub deleted_retention_days: u32,
    /// `pg_dump` / `pg_restore` directory; `None` = looked up per server version.
    pub pg_bin: Option<PathBuf>,
    pub s3: S3Settings,
}

/// Retention: the newest backup of each of the last `daily` days, `weekly` weeks and `monthly`
/// months, and never fewer than `min` backups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeepPolicy {
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
    pub min: u32,
}

/// An S3-compatible object store. The secret key never appears in `Debug` or errors.
#[derive(Debug, Clone)]
pub struct S3Settings {
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<SecretString>,
    pub allow_http: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBackups {
    target: String,
    every_secs: u64,
    keep: KeepPolicy,
    concurrency: usize,
    jitter_secs: u64,
    include_suspended: bool,
    deleted_retention_days: u32,
    pg_bin: String,
    s3: RawS3,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawS3 {
    endpoint: String,
    region: String,
    access_key_id: String,
    secret_access_key: SecretString,
    allow_http: bool,
}

pub(super) const DEFAULTS: &str = r#"
[backups]
target = ""
every_secs = 0
keep = { daily = 7, weekly = 4, monthly = 12, min = 3 }
concurrency = 2
jitter_secs = 30
include_suspended = false
deleted_retention_days = 7
pg_bin = ""

[backups.s3]
endpoint = ""
region = "us-east-1"
access_key_id = ""
secret_access_key = ""
allow_http = false
"#;

impl BackupSettings {
    pub(super) fn validate(raw: RawBackups) -> Result<Self, SettingsError> {
        use secrecy::ExposeSecret as _;
        let target = non_empty(raw.target);
        if let Some(target) = &target
            && !(target.starts_with("s3://") || target.starts_with('/'))
        {
            return Err(SettingsError::invalid(
                "backups.target",
                "must be an absolute directory or s3://bucket/prefix",
            ));
        }
        if raw.every_secs != 0 && raw.every_secs < 60 {
            return Err(SettingsError::invalid(
                "backups.every_secs",
                "must be 0 (off) or at least 60",
            ));
        }
        if !(1..=64).contains(&raw.concurrency) {
            return Err(SettingsError::invalid(
                "backups.concurrency",
                "must be 1–64",
            ));
        }
        if raw.keep.daily + raw.keep.weekly + raw.keep.monthly + raw.keep.min == 0 {
            return Err(SettingsError::invalid(
                "backups.keep",
                "keeps nothing: set at least one of daily, weekly, monthly, min",
            ));
        }
        if !(1..=3650).contains(&raw.deleted_retention_days) {
            return Err(SettingsError::invalid(
                "backups.deleted_retention_days",
                "must be 1–3650",
            ));
        }
        let secret = raw.s3.secret_access_key;
        Ok(Self {
            target,
            every_secs: raw.every_secs,
            keep: raw.keep,
            concurrency: raw.concurrency,
            jitter_secs: raw.jitter_secs.min(3600),
            include_suspended: raw.include_suspended,
            deleted_retention_days: raw.deleted_retention_days,
            pg_bin: non_empty(raw.pg_bin).map(PathBuf::from),
            s3: S3Settings {
                endpoint: non_empty(raw.s3.endpoint),
                region: raw.s3.region,
                access_key_id: non_empty(raw.s3.access_key_id),
                secret_access_key: (!secret.expose_secret().is_empty()).then_some(secret),
                allow_http: raw.s3.allow_http,
            },
        })
    }
}

fn non_empty(value: String) -> Option<String> {
    let trimmed = value.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;

    use crate::settings::{Settings, SettingsError};

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        Settings::load_from(
            None,
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn defaults_keep_backups_local_and_unscheduled() {
        let b = load(&[]).unwrap().backups;
        assert_eq!(b.target, None);
        assert_eq!(b.every_secs, 0);
        assert_eq!(
            (b.keep.daily, b.keep.weekly, b.keep.monthly, b.keep.min),
            (7, 4, 12, 3)
        );
        assert_eq!(b.deleted_retention_days, 7);
        assert!(b.s3.secret_access_key.is_none());
    }

    #[test]
    fn an_s3_target_with_its_keys_comes_from_the_environment() {
        let b = load(&[
            ("TENANTRY__BACKUPS__TARGET", "s3://bucket/prod"),
            ("TENANTRY__BACKUPS__EVERY_SECS", "3600"),
            ("TENANTRY__BACKUPS__S3__ENDPOINT", "http://127.0.0.1:9000"),
            ("TENANTRY__BACKUPS__S3__SECRET_ACCESS_KEY", "s3cr3t-value"),
        ])
        .unwrap()
        .backups;
        assert_eq!(b.target.as_deref(), Some("s3://bucket/prod"));
        assert_eq!(b.every_secs, 3600);
        assert_eq!(
            b.s3.secret_access_key.as_ref().unwrap().expose_secret(),
            "s3cr3t-value"
        );
        assert!(
            !format!("{b:?}").contains("s3cr3t-value"),
            "the secret reached Debug"
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        for (key, value, named) in [
            (
                "TENANTRY__BACKUPS__TARGET",
                "relative/dir",
                "backups.target",
            ),
            ("TENANTRY__BACKUPS__EVERY_SECS", "5", "backups.every_secs"),
            ("TENANTRY__BACKUPS__CONCURRENCY", "0", "backups.concurrency"),
            (
                "TENANTRY__BACKUPS__DELETED_RETENTION_DAYS",
                "0",
                "backups.deleted_retention_days",
            ),
        ] {
            match load(&[(key, value)]) {
                Err(SettingsError::Invalid { key, .. }) => assert_eq!(key, named),
                other => panic!("{key}={value}: {other:?}"),
            }
        }
    }
}
