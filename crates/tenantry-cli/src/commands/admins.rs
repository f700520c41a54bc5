use secrecy::ExposeSecret;
use serde_json::json;
use tenantry_core::Email;
use tenantry_core::vault::random_password;
use tenantry_registry::{AdminRole, AuditEntry};

use crate::cli::AdminsCommand;
use crate::context::Context;
use crate::error::CliError;
use crate::output;

pub async fn run(ctx: &Context, cmd: AdminsCommand) -> Result<(), CliError> {
    match cmd {
        AdminsCommand::Create {
            email,
            password_stdin,
            role,
            output: flags,
        } => {
            let email = Email::parse(&email).map_err(|e| CliError::usage("--email", e))?;
            let role = AdminRole::from(role);
            let (password, generated) = if password_stdin {
                (output::password_from_stdin("--password-stdin")?, false)
            } else {
                (random_password(), true)
            };
            let registry = ctx.registry().await?;
            let hash = output::hash_password(&password).await?;
            let admin = registry.create_admin(&email, hash, role).await?;
            registry
                .audit(AuditEntry {
                    actor: output::cli_actor(),
                    action: "admin.create",
                    tenant_id: None,
                    ip: None,
                    detail: json!({ "admin_id": admin.id, "email": admin.email, "role": role }),
                })
                .await?;
            let one_time = generated.then(|| password.expose_secret().to_owned());
            if flags.json {
                output::json(&json!({
                    "id": admin.id, "email": admin.email, "role": role, "one_time_password": one_time,
                }));
            } else {
                println!("created admin {} ({role:?})", admin.email);
                if let Some(password) = one_time {
                    println!(
                        "one-time password (shown once, change it at first login): {password}"
                    );
                }
            }
            Ok(())
        }
    }
}
