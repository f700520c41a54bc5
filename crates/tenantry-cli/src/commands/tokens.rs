//! `tenantry admins tokens ...`: API tokens for scripts, through the operator service.

use chrono::{Duration, Utc};
use secrecy::ExposeSecret as _;
use serde_json::json;
use tenantry_ops::{Caller, TokenView};
use tenantry_registry::AdminRole;

use crate::cli::TokensCommand;
use crate::context::Context;
use crate::error::{self, CliError};
use crate::output::{self, or_dash};

/// The arguments that set each field the operator service may refuse.
const CREATE_FLAGS: &[(&str, &str)] = &[("name", "--name"), ("expires_at", "--expires")];

pub async fn run(ctx: &Context, cmd: TokensCommand) -> Result<(), CliError> {
    let caller = Caller::cli();
    match cmd {
        TokensCommand::Create {
            name,
            role,
            expires,
            expires_in_days,
            output: flags,
        } => {
            let expires_at =
                expires.or_else(|| expires_in_days.map(|d| Utc::now() + Duration::days(d.into())));
            let ops = ctx.operator().await?;
            let issued = ops
                .create_token(&caller, &name, AdminRole::from(role), expires_at)
                .await
                .map_err(error::ops(CREATE_FLAGS))?;
            let secret = issued.secret.expose_secret();
            if flags.json {
                // The shape of `POST /admin/v1/tokens`: the token, and its secret this once.
                let mut body = serde_json::to_value(&issued.token)
                    .map_err(|e| CliError::Failed(format!("cannot print the token: {e}")))?;
                body["secret"] = json!(secret);
                output::json(&body);
            } else {
                let t = &issued.token;
                println!(
                    "created token {} ({}, {}), expires {}",
                    t.name,
                    output::label(&t.role),
                    t.id,
                    or_dash(t.expires_at.map(|at| at.to_rfc3339()))
                );
                println!("secret (shown once, store it now): {secret}");
            }
            Ok(())
        }
        TokensCommand::List(flags) => {
            let tokens = ctx.operator().await?.list_tokens(&caller).await?;
            if flags.json {
                output::json(&tokens);
            } else {
                print_table(&tokens);
            }
            Ok(())
        }
        TokensCommand::Revoke { id, output: flags } => {
            ctx.operator().await?.revoke_token(&caller, id).await?;
            if flags.json {
                output::json(&json!({ "id": id, "revoked": true }));
            } else {
                println!("revoked token {id}");
            }
            Ok(())
        }
    }
}

fn print_table(tokens: &[TokenView]) {
    let time = |at: Option<chrono::DateTime<Utc>>| or_dash(at.map(|at| at.to_rfc3339()));
    let rows: Vec<Vec<String>> = tokens
        .iter()
        .map(|t| {
            vec![
                t.id.to_string(),
                t.name.clone(),
                output::label(&t.role),
                t.created_by.clone(),
                time(t.last_used_at),
                time(t.expires_at),
                time(t.revoked_at),
            ]
        })
        .collect();
    output::table(
        &[
            "ID",
            "NAME",
            "ROLE",
            "CREATED BY",
            "LAST USED",
            "EXPIRES",
            "REVOKED",
        ],
        &rows,
    );
}
