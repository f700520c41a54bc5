//! `tenantry serve`: the HTTP server. In the embedded default (SQLite master) it also migrates
//! the master and creates the first admin, so a fresh checkout serves with no setup.

use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use tenantry_core::settings::DatabaseUrl;
use tenantry_http::Application;
use tenantry_ops::{Caller, NewAdmin, Operator};
use tenantry_provision::Provisioner;
use tenantry_provision::reconcile::{DriftScope, Outcome, Resolution};
use tenantry_registry::AdminRole;

use crate::context::{Context, KeyPolicy, operator};
use crate::error::CliError;

mod backups;
mod spares;
mod storage;

/// Operations untouched this long are taken as interrupted by a crash (a live one beats every
/// few seconds) and resolved: at start, then every [`RESOLVE_EVERY`] while serving.
const RECONCILE_STALE_AFTER: Duration = Duration::from_secs(30);

/// How often a running `serve` looks for interrupted operations: a crash (of this process's
/// predecessor, or of another process on the same master) is resolved within
/// `RECONCILE_STALE_AFTER + RESOLVE_EVERY`.
const RESOLVE_EVERY: Duration = Duration::from_secs(10);

/// The first operator of an embedded-default install.
const FIRST_ADMIN_EMAIL: &str = "admin@tenantry.localhost";

pub async fn run(ctx: &Context) -> Result<(), CliError> {
    let settings = &ctx.settings;
    let embedded = matches!(settings.master.url, DatabaseUrl::Sqlite(_));
    let registry = if embedded {
        let registry = ctx.connect_registry(KeyPolicy::GenerateIfMissing).await?;
        let report = registry.migrate().await?;
        for (version, name) in &report.applied {
            tracing::info!(version, name = %name, "applied master migration");
        }
        registry
    } else {
        ctx.registry().await?
    };
    let provisioner = Arc::new(
        Provisioner::new(registry.clone(), &settings.data_dir)
            .with_reserved_subdomains(settings.tenants.reserved_subdomains.clone())
            .with_backups(crate::context::backup_config(settings)),
    );
    if embedded {
        ensure_first_admin(&operator(provisioner.clone(), settings)?).await?;
    }
    reconcile(&provisioner).await;

    let app =
        Application::build(settings, Arc::new(registry), provisioner.clone()).map_err(|e| {
            CliError::Failed(format!("cannot listen on {}: {e}", settings.server.listen))
        })?;
    let ip = settings.server.listen.ip();
    let port = app.port();
    println!(
        "listening on http://{ip}:{port} (tenants at http://<subdomain>.{}:{port})",
        settings.server.base_domain
    );
    tracing::info!(%ip, port, "serving");
    let mut background = vec![tokio::spawn(resolve_interrupted_while_serving(
        provisioner.clone(),
    ))];
    if let Some((schedule, jitter)) = backups::schedule(settings) {
        background.push(tokio::spawn(backups::run(
            provisioner.clone(),
            schedule,
            jitter,
        )));
    }
    let every = settings.tenants.storage_check_every_secs;
    if every > 0 {
        let every = Duration::from_secs(every);
        background.push(tokio::spawn(storage::run(provisioner.clone(), every)));
    }
    background.push(tokio::spawn(spares::run(
        provisioner.clone(),
        settings.provision,
    )));
    let served = app.run_until_stopped().await;
    for task in background {
        task.abort();
    }
    served.map_err(|e| CliError::Failed(format!("server stopped: {e}")))?;
    tracing::info!("stopped");
    Ok(())
}

/// Finishes or rolls back what a crash interrupted. Findings are logged; none stops serving
/// (drift concerns single tenants, which are gated per request).
async fn reconcile(provisioner: &Provisioner) {
    // Catalog only: checking every tenant's schema would open one connection per tenant.
    match provisioner
        .reconcile(RECONCILE_STALE_AFTER, DriftScope::Catalog)
        .await
    {
        Ok(report) => {
            log_resolutions(&report.operations);
            for d in &report.drift {
                let finding = serde_json::to_string(d).unwrap_or_default();
                tracing::warn!(%finding, "drift between the registry and the database servers");
            }
            tracing::info!(
                operations = report.operations.len(),
                drift = report.drift.len(),
                "reconciled at start"
            );
        }
        Err(e) => tracing::warn!(error = %e, "reconcile at start failed; serving anyway"),
    }
}

/// Resolves operations abandoned since start (a create killed just before this process started
/// was still too young for the reconcile at start), for as long as the server runs.
async fn resolve_interrupted_while_serving(provisioner: Arc<Provisioner>) {
    let mut tick = tokio::time::interval(RESOLVE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // immediate: the reconcile at start just ran
    loop {
        tick.tick().await;
        match provisioner.resolve_interrupted(RECONCILE_STALE_AFTER).await {
            Ok(resolved) => log_resolutions(&resolved),
            Err(e) => tracing::warn!(error = %e, "could not look for interrupted operations"),
        }
    }
}

fn log_resolutions(resolved: &[Resolution]) {
    for r in resolved {
        let subdomain = r.subdomain.as_deref().unwrap_or("-");
        match &r.outcome {
            Outcome::Failed(error) => {
                tracing::warn!(operation = %r.operation, kind = %r.kind, subdomain, error = %error, "could not resolve interrupted operation")
            }
            outcome => {
                tracing::info!(operation = %r.operation, kind = %r.kind, subdomain, ?outcome, "resolved interrupted operation")
            }
        }
    }
}

/// With no operator yet, creates one and prints its one-time password (once: it is stored
/// hashed only).
async fn ensure_first_admin(ops: &Operator) -> Result<(), CliError> {
    let caller = Caller::cli();
    if !ops.list_admins(&caller).await?.is_empty() {
        return Ok(());
    }
    let new = NewAdmin {
        email: FIRST_ADMIN_EMAIL.into(),
        password: None,
        role: AdminRole::Owner,
    };
    let (admin, password) = ops.create_admin(&caller, new).await?;
    let password =
        password.ok_or_else(|| CliError::Failed("no one-time password was generated".into()))?;
    println!(
        "created first admin {} — one-time password (shown once, change it at first login): {}",
        admin.email,
        password.expose_secret()
    );
    Ok(())
}
