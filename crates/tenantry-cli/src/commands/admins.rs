//! `tenantry admins ...`: operators of the installation and their scripts' API tokens, through
//! the operator service.

use secrecy::ExposeSecret as _;
use serde_json::json;
use tenantry_ops::{Caller, NewAdmin};
use tenantry_registry::AdminRole;

use crate::cli::AdminsCommand;
use crate::commands::tokens;
use crate::context::Context;
use crate::error::{self, CliError};
use crate::output;

/// The arguments that set each field the operator service may refuse.
const CREATE_FLAGS: &[(&str, &str)] = &[("email", "--email"), ("password", "--password-stdin")];

pub async fn run(ctx: &Context, cmd: AdminsCommand) -> Result<(), CliError> {
    match cmd {
        AdminsCommand::Create {
            email,
            password_stdin,
            role,
            output: flags,
        } => {
            let role = AdminRole::from(role);
            let password = password_stdin
                .then(|| output::secret_from_stdin("--password-stdin"))
                .transpose()?;
            let ops = ctx.operator().await?;
            let new = NewAdmin {
                email,
                password,
                role,
            };
            let (admin, one_time) = ops
                .create_admin(&Caller::cli(), new)
                .await
                .map_err(error::ops(CREATE_FLAGS))?;
            let one_time = one_time.map(|p| p.expose_secret().to_owned());
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
        AdminsCommand::Tokens(cmd) => tokens::run(ctx, cmd).await,
    }
}
