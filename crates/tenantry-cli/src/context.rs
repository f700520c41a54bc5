//! What every command starts from: validated settings, then (on demand) the key ring and the
//! master registry.

use std::path::Path;
use std::sync::Arc;

use tenantry_backup::store::S3Options;
use tenantry_core::Settings;
use tenantry_core::settings::{DatabaseUrl, KeySource, MASTER_KEY_ENV};
use tenantry_core::vault::{KeyRing, PasswordChecker, Vault};
use tenantry_ops::{DomainRules, JobLimits, Operator};
use tenantry_provision::{BackupConfig, Provisioner, Step};
use tenantry_registry::Registry;

use crate::error::{CliError, with_causes};

pub struct Context {
    pub settings: Settings,
}

/// Whether a missing embedded-default key may be created.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum KeyPolicy {
    GenerateIfMissing,
    MustExist,
}

impl Context {
    /// Loads settings and, when the key comes from the environment or a file, checks it now: a
    /// malformed key is a configuration error whatever the command.
    pub fn load(config: Option<&Path>) -> Result<Self, CliError> {
        let ctx = Self {
            settings: Settings::load(config)?,
        };
        if !matches!(ctx.settings.key_source()?, KeySource::Generated(_)) {
            ctx.key_ring(KeyPolicy::MustExist)?;
        }
        Ok(ctx)
    }

    pub fn key_ring(&self, policy: KeyPolicy) -> Result<KeyRing, CliError> {
        match self.settings.key_source()? {
            KeySource::Env(spec) => KeyRing::parse(&spec)
                .map_err(|e| CliError::Key(format!("{MASTER_KEY_ENV}: {}", with_causes(&e)))),
            KeySource::File(path) => KeyRing::load_file(&path).map_err(|e| {
                CliError::Key(format!("security.master_key_file: {}", with_causes(&e)))
            }),
            KeySource::Generated(path) => {
                let result = match policy {
                    KeyPolicy::GenerateIfMissing => {
                        KeyRing::load_or_generate(&path).map(|(ring, _)| ring)
                    }
                    KeyPolicy::MustExist if !path.exists() => {
                        return Err(CliError::Key(format!(
                            "no master key at {}: `tenantry master migrate` or `tenantry serve` creates it",
                            path.display()
                        )));
                    }
                    KeyPolicy::MustExist => KeyRing::load_file(&path),
                };
                result.map_err(|e| CliError::Key(format!("master key: {}", with_causes(&e))))
            }
        }
    }

    /// Connects to the master without checking its migrations (`master migrate`, `doctor`).
    pub async fn connect_registry(&self, policy: KeyPolicy) -> Result<Registry, CliError> {
        let vault = Arc::new(Vault::new(self.key_ring(policy)?));
        create_master_dir(&self.settings.master.url)?;
        Ok(Registry::connect(&self.settings.master.url, vault).await?)
    }

    /// Connects to a master that must be fully migrated.
    pub async fn registry(&self) -> Result<Registry, CliError> {
        let registry = self.connect_registry(KeyPolicy::GenerateIfMissing).await?;
        let status = registry.migration_status().await?;
        if !status.pending.is_empty() {
            return Err(CliError::Failed(format!(
                "the master database is not migrated (pending versions {:?}): run `tenantry master migrate`",
                status.pending
            )));
        }
        Ok(registry)
    }
}

/// Creates the directory of a SQLite master (the data dir, by default) with mode 0700: it holds
/// the master and the tenant databases. Only a generated key file made it private before; with
/// the key from the environment or a file, `Registry::connect` created it with the umask's mode.
/// An existing directory keeps the mode its operator gave it.
fn create_master_dir(url: &DatabaseUrl) -> Result<(), CliError> {
    let DatabaseUrl::Sqlite(path) = url else {
        return Ok(());
    };
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| CliError::Failed(format!("cannot create directory {}: {e}", dir.display())))
}

/// Test-only hook: `TENANTRY_TEST_FAILPOINT=<step>` stops `tenants create` right after that step,
/// leaving state exactly as a crash would (for crash-safety tests of `reconcile`).
pub const FAILPOINT_ENV: &str = "TENANTRY_TEST_FAILPOINT";

impl Context {
    pub async fn provisioner(&self) -> Result<Provisioner, CliError> {
        let failpoint = match std::env::var(FAILPOINT_ENV) {
            Ok(step) => Some(
                step.parse::<Step>()
                    .map_err(|e| CliError::usage(FAILPOINT_ENV, e))?,
            ),
            Err(_) => None,
        };
        Ok(
            Provisioner::new(self.registry().await?, &self.settings.data_dir)
                .with_reserved_subdomains(self.settings.tenants.reserved_subdomains.clone())
                .with_backups(backup_config(&self.settings))
                .with_failpoint(failpoint),
        )
    }

    /// The operator service over this installation: every tenant, server, admin and token
    /// command goes through it (with [`tenantry_ops::Caller::cli`]).
    pub async fn operator(&self) -> Result<Operator, CliError> {
        operator(Arc::new(self.provisioner().await?), &self.settings)
    }
}

/// Where backups go and how they are made, from `[backups]`.
pub fn backup_config(settings: &Settings) -> BackupConfig {
    let b = &settings.backups;
    let mut config = BackupConfig::local(&settings.data_dir);
    if let Some(target) = &b.target {
        config.target = target.clone();
    }
    config.s3 = S3Options {
        endpoint: b.s3.endpoint.clone(),
        region: b.s3.region.clone(),
        access_key_id: b.s3.access_key_id.clone(),
        secret_access_key: b.s3.secret_access_key.clone(),
        allow_http: b.s3.allow_http,
    };
    config.pg_bin = b.pg_bin.clone();
    config.deleted_retention = chrono::Duration::days(i64::from(b.deleted_retention_days));
    config
}

/// The operator service over `provisioner`, with a small password checker: one command hashes
/// one password at most.
pub fn operator(provisioner: Arc<Provisioner>, settings: &Settings) -> Result<Operator, CliError> {
    let passwords = PasswordChecker::new(1, 4)
        .map_err(|e| CliError::Failed(format!("cannot start the password checker: {e}")))?;
    Ok(Operator::new(
        provisioner,
        Arc::new(passwords),
        JobLimits::default(),
        DomainRules::new(&settings.server.base_domain, settings.domains.clone()),
    ))
}
