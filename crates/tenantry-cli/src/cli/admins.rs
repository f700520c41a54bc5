//! `admins …`: the operators of this installation and their API tokens.

use chrono::{DateTime, Utc};
use clap::{Subcommand, ValueEnum};
use tenantry_core::ApiTokenId;
use tenantry_registry::AdminRole;

use super::JsonFlag;

#[derive(Debug, Subcommand)]
pub enum AdminsCommand {
    /// Create an operator. Without --password-stdin a one-time password is generated and printed once.
    Create {
        #[arg(long)]
        email: String,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long, value_enum, default_value_t = RoleArg::Operator)]
        role: RoleArg,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// Manage API tokens for scripts using the admin API.
    #[command(subcommand)]
    Tokens(TokensCommand),
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Issue a token. Its secret is printed once: it is stored hashed only.
    Create {
        /// A unique name, shown in audit rows (`token:<name>`).
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// When it stops working (RFC 3339, e.g. 2030-01-31T00:00:00Z). Default: never.
        #[arg(long, value_name = "RFC3339", value_parser = parse_rfc3339, conflicts_with = "expires_in_days")]
        expires: Option<DateTime<Utc>>,
        /// When it stops working, in days from now.
        #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=36_500))]
        expires_in_days: Option<u32>,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// List tokens (never their secrets).
    List(JsonFlag),
    /// Revoke a token: refused by every process from its next request on.
    Revoke {
        id: ApiTokenId,
        #[command(flatten)]
        output: JsonFlag,
    },
}

fn parse_rfc3339(raw: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(raw)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|e| format!("not an RFC 3339 time ({e}), e.g. 2030-01-31T00:00:00Z"))
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Owner,
    Operator,
    Viewer,
}

impl From<RoleArg> for AdminRole {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Owner => AdminRole::Owner,
            RoleArg::Operator => AdminRole::Operator,
            RoleArg::Viewer => AdminRole::Viewer,
        }
    }
}
